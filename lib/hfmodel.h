/* hfmodel.h: open a model given as a GGUF file or a Hugging Face directory, as one struct rag_gguf. */
#ifndef RAG_HFMODEL_H
#define RAG_HFMODEL_H

#include "error.h"
#include "gguf.h"

/*
 * Open a model for any ragkit loader.  A regular file is read with
 * rag_gguf_open.  A directory is read as a Hugging Face model directory and
 * presented as the GGUF that llama.cpp's convert_hf_to_gguf.py would make of
 * it, so every loader taking a struct rag_gguf works unchanged:
 *
 *   config.json        architectures BertModel / BertForSequenceClassification
 *                      (bert), Qwen2ForCausalLM (qwen2), Qwen3ForCausalLM
 *                      (qwen3), LlamaForCausalLM (llama); dimensions as
 *                      <arch>.block_count, context_length, embedding_length,
 *                      feed_forward_length, attention.head_count[_kv],
 *                      attention.layer_norm[_rms]_epsilon, rope.freq_base, ...
 *   model.safetensors  (or model.safetensors.index.json and its shards) F32,
 *                      F16, BF16 tensors under llama.cpp's names (token_embd,
 *                      blk.N.attn_q, ...; a BERT sequence classifier's pooler is
 *                      kept as cls.weight/cls.bias and its classifier is
 *                      cls.output).  Tensor data points into the read-only
 *                      mapping (llama's q/k weights, which llama.cpp permutes,
 *                      are permuted copies).
 *   tokenizer.json     (WordPiece, BPE -- byte-level or byte-fallback --,
 *                      Unigram, WordLevel) or vocab.txt, with
 *                      tokenizer_config.json: tokenizer.ggml.model, pre,
 *                      tokens, token_type, scores, merges,
 *                      precompiled_charsmap, *_token_id, add_*_token,
 *                      chat_template, as llama.cpp's converter writes them,
 *                      and the whole file as tokenizer.huggingface.json (the
 *                      key GGUF defines for it), which the tokenizer then runs
 *                      as its own description (see rag_tokenizer_from_gguf).
 *                      A directory holding only tokenizer.json (and
 *                      tokenizer_config.json) opens as a vocabulary-only object
 *                      (general.type "vocab") for rag-tokenize.
 *   sentence-transformers files: 1_Pooling/config.json (via modules.json) sets
 *                      <arch>.pooling_type (1 mean, 2 cls, 3 last).
 *
 * Keys beyond llama.cpp's, carrying what GGUF otherwise loses:
 *   ragkit.max_length          u32  sentence_bert_config.json max_seq_length
 *   ragkit.normalize           bool whether modules.json has a Normalize module (only when it exists)
 *   ragkit.prompt.NAME         str  config_sentence_transformers.json prompts
 *                                   (e.g. ragkit.prompt.query)
 *   ragkit.default_prompt_name str  its default_prompt_name
 *
 * rag_gguf_path of the result is the directory.  Errors: RAG_ENOINPUT (cannot
 * open), RAG_EMODEL naming the file at fault (bad JSON, unknown architecture
 * or tensor, corrupt safetensors, a directory that is neither), RAG_EINTERNAL
 * (out of memory).  Release with rag_gguf_close.
 */
int rag_model_open(const char *path, struct rag_gguf **out, struct rag_error *err);

/* 1 when path is a directory (what rag_model_open reads as Hugging Face). */
int rag_model_is_dir(const char *path);

#endif
