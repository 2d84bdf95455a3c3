/* modelinfo.c: rag-model info's report, from GGUF metadata and tensor infos. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "decoder.h"
#include "json.h"
#include "modelinfo.h"

static const char *const encoder_archs[] = { "bert", NULL };

static int in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

const char *rag_model_kind_name(enum rag_model_kind k)
{
	switch (k) {
	case RAG_MODEL_ENCODER: return "embedding encoder";
	case RAG_MODEL_CROSS_ENCODER: return "cross-encoder (reranker)";
	case RAG_MODEL_DECODER: return "decoder";
	case RAG_MODEL_VOCAB_ONLY: return "vocabulary only";
	default: return "unknown";
	}
}

static const char *arch_of(const struct rag_gguf *g)
{
	const char *a = NULL;

	return rag_gguf_get_str(g, "general.architecture", &a) == 1 ? a : NULL;
}

enum rag_model_kind rag_model_kind_of(const struct rag_gguf *g)
{
	const char *a = arch_of(g);

	if (rag_gguf_n_tensors(g) == 0)
		return RAG_MODEL_VOCAB_ONLY;
	if (!a)
		return RAG_MODEL_UNKNOWN;
	if (in_list(a, encoder_archs))
		return rag_gguf_find_tensor(g, "cls.output.weight") ? RAG_MODEL_CROSS_ENCODER
								     : RAG_MODEL_ENCODER;
	if (rag_decoder_supports_arch(a))
		return RAG_MODEL_DECODER;
	return RAG_MODEL_UNKNOWN;
}

int rag_model_supported(const struct rag_gguf *g, char *why, size_t why_len)
{
	const char *a = arch_of(g);
	size_t i;

	if (!a) {
		snprintf(why, why_len, "no general.architecture");
		return 0;
	}
	if (!in_list(a, encoder_archs) && !rag_decoder_supports_arch(a)) {
		snprintf(why, why_len, "architecture '%s' is not supported (ragkit runs bert, " RAG_DECODER_ARCHS ")", a);
		return 0;
	}
	for (i = 0; i < rag_gguf_n_tensors(g); i++) {
		const struct rag_gguf_tensor *t = rag_gguf_tensor_at(g, i);
		const struct rag_dtype_info *ti = rag_dtype_info(t->type);
		if (!ti->dequant) {
			snprintf(why, why_len, "tensor '%s' has type %s, which ragkit cannot compute with",
				 t->name, ti->name);
			return 0;
		}
	}
	if (rag_decoder_supports_arch(a)) {
		const char *sc;
		if (rag_decoder_rope_scaling(g, a, &sc)) {
			snprintf(why, why_len, "RoPE scaling '%s' is not supported (ragkit runs " RAG_DECODER_ROPE_SCALINGS ")",
				 sc);
			return 0;
		}
	}
	if (rag_model_kind_of(g) == RAG_MODEL_CROSS_ENCODER && !rag_gguf_find_tensor(g, "cls.weight")) {
		snprintf(why, why_len, "cross-encoder without its pooler ('cls.weight'): a lossy conversion "
			 "whose scores differ from the original model");
		return 0;
	}
	return 1;
}

/* "<arch>.<name>" as an integer, or -1. */
static long long arch_int(const struct rag_gguf *g, const char *arch, const char *name)
{
	char key[128];
	int64_t v;

	snprintf(key, sizeof key, "%s.%s", arch, name);
	return rag_gguf_get_int(g, key, &v) == 1 ? (long long)v : -1;
}

static const char *pooling_name(long long p)
{
	switch (p) {
	case 0: return "none";
	case 1: return "mean";
	case 2: return "cls";
	case 3: return "last";
	case 4: return "rank";
	default: return "unspecified";
	}
}

struct type_total {
	uint64_t count, bytes, elements;
};

void rag_model_describe(const struct rag_gguf *g, int json, struct rag_buf *out)
{
	static const char *const dims[] = {
		"context_length", "embedding_length", "block_count", "feed_forward_length",
		"attention.head_count", "attention.head_count_kv", "attention.key_length", NULL,
	};
	const char *arch = arch_of(g), *name = NULL, *tok = NULL, *pre = NULL;
	const struct rag_gguf_kv *vocab = rag_gguf_find(g, "tokenizer.ggml.tokens");
	struct type_total totals[RAG_DT_COUNT];
	char why[256] = "";
	int ok = rag_model_supported(g, why, sizeof why);
	enum rag_model_kind kind = rag_model_kind_of(g);
	long long pooling = arch ? arch_int(g, arch, "pooling_type") : -1;
	uint64_t total_bytes = 0, total_params = 0;
	size_t i;
	int t;

	rag_gguf_get_str(g, "general.name", &name);
	rag_gguf_get_str(g, "tokenizer.ggml.model", &tok);
	rag_gguf_get_str(g, "tokenizer.ggml.pre", &pre);
	memset(totals, 0, sizeof totals);
	for (i = 0; i < rag_gguf_n_tensors(g); i++) {
		const struct rag_gguf_tensor *tn = rag_gguf_tensor_at(g, i);
		totals[tn->type].count++;
		totals[tn->type].bytes += tn->nbytes;
		totals[tn->type].elements += (uint64_t)rag_gguf_tensor_nelements(tn);
		total_bytes += tn->nbytes;
		total_params += (uint64_t)rag_gguf_tensor_nelements(tn);
	}

	if (json) {
		struct rag_objw w, d, ty;
		rag_objw_begin(&w, out);
		rag_objw_key(&w, "file");
		rag_json_write_str(out, rag_gguf_path(g), strlen(rag_gguf_path(g)));
		rag_objw_key(&w, "gguf_version");
		rag_json_write_num(out, rag_gguf_version(g));
		rag_objw_key(&w, "name");
		if (name) rag_json_write_str(out, name, strlen(name)); else rag_buf_adds(out, "null");
		rag_objw_key(&w, "architecture");
		if (arch) rag_json_write_str(out, arch, strlen(arch)); else rag_buf_adds(out, "null");
		rag_objw_key(&w, "kind");
		rag_json_write_str(out, rag_model_kind_name(kind), strlen(rag_model_kind_name(kind)));
		rag_objw_key(&w, "dimensions");
		rag_objw_begin(&d, out);
		for (i = 0; arch && dims[i]; i++) {
			long long v = arch_int(g, arch, dims[i]);
			if (v >= 0) {
				rag_objw_key(&d, dims[i]);
				rag_json_write_num(out, (double)v);
			}
		}
		rag_objw_end(&d);
		rag_objw_key(&w, "pooling");
		rag_json_write_str(out, pooling_name(pooling), strlen(pooling_name(pooling)));
		rag_objw_key(&w, "tokenizer");
		if (tok) rag_json_write_str(out, tok, strlen(tok)); else rag_buf_adds(out, "null");
		rag_objw_key(&w, "pre_tokenizer");
		if (pre) rag_json_write_str(out, pre, strlen(pre)); else rag_buf_adds(out, "null");
		rag_objw_key(&w, "vocab_size");
		rag_json_write_num(out, vocab && vocab->type == RAG_GGUF_ARRAY ? (double)vocab->n : 0);
		rag_objw_key(&w, "n_tensors");
		rag_json_write_num(out, (double)rag_gguf_n_tensors(g));
		rag_objw_key(&w, "parameters");
		rag_json_write_num(out, (double)total_params);
		rag_objw_key(&w, "tensor_bytes");
		rag_json_write_num(out, (double)total_bytes);
		rag_objw_key(&w, "tensor_types");
		rag_objw_begin(&ty, out);
		for (t = 0; t < RAG_DT_COUNT; t++) {
			struct rag_objw e;
			if (!totals[t].count)
				continue;
			rag_objw_key(&ty, rag_dtype_info((uint32_t)t)->name);
			rag_objw_begin(&e, out);
			rag_objw_key(&e, "tensors");
			rag_json_write_num(out, (double)totals[t].count);
			rag_objw_key(&e, "elements");
			rag_json_write_num(out, (double)totals[t].elements);
			rag_objw_key(&e, "bytes");
			rag_json_write_num(out, (double)totals[t].bytes);
			rag_objw_end(&e);
		}
		rag_objw_end(&ty);
		rag_objw_key(&w, "supported");
		rag_buf_adds(out, ok ? "true" : "false");
		if (!ok) {
			rag_objw_key(&w, "reason");
			rag_json_write_str(out, why, strlen(why));
		}
		rag_objw_end(&w);
		rag_buf_addc(out, '\n');
		return;
	}

	rag_buf_printf(out, "%-24s %s\n", "file:", rag_gguf_path(g));
	rag_buf_printf(out, "%-24s GGUF v%u, %llu metadata entries, %zu tensors\n", "format:",
		       rag_gguf_version(g), (unsigned long long)rag_gguf_n_kv(g), rag_gguf_n_tensors(g));
	if (name)
		rag_buf_printf(out, "%-24s %s\n", "name:", name);
	rag_buf_printf(out, "%-24s %s\n", "architecture:", arch ? arch : "(none)");
	rag_buf_printf(out, "%-24s %s\n", "kind:", rag_model_kind_name(kind));
	for (i = 0; arch && dims[i]; i++) {
		long long v = arch_int(g, arch, dims[i]);
		if (v >= 0)
			rag_buf_printf(out, "%-24s %lld\n", dims[i], v);
	}
	if (pooling >= 0)
		rag_buf_printf(out, "%-24s %s\n", "pooling:", pooling_name(pooling));
	rag_buf_printf(out, "%-24s %s", "tokenizer:", tok ? tok : "(none)");
	if (pre)
		rag_buf_printf(out, ", pre-tokenizer %s", pre);
	if (vocab && vocab->type == RAG_GGUF_ARRAY)
		rag_buf_printf(out, ", %llu tokens", (unsigned long long)vocab->n);
	rag_buf_addc(out, '\n');
	rag_buf_printf(out, "%-24s %llu in %llu bytes\n", "parameters:", (unsigned long long)total_params,
		       (unsigned long long)total_bytes);
	for (t = 0; t < RAG_DT_COUNT; t++)
		if (totals[t].count)
			rag_buf_printf(out, "  %-8s %5llu tensors %12llu elements %12llu bytes\n",
				       rag_dtype_info((uint32_t)t)->name, (unsigned long long)totals[t].count,
				       (unsigned long long)totals[t].elements, (unsigned long long)totals[t].bytes);
	if (kind == RAG_MODEL_CROSS_ENCODER && !rag_gguf_find_tensor(g, "cls.weight"))
		rag_buf_printf(out, "%-24s lossy conversion: 'cls.output' without the pooler 'cls' "
			       "(llama.cpp's converter drops it); convert the original with rag-model convert\n",
			       "warning:");
	if (kind == RAG_MODEL_VOCAB_ONLY)
		rag_buf_printf(out, "%-24s no (vocabulary only: usable for tokenizing)\n", "runnable:");
	else
		rag_buf_printf(out, "%-24s %s%s%s\n", "runnable:", ok ? "yes" : "no", ok ? "" : ": ", ok ? "" : why);
}
