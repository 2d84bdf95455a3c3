#!/usr/bin/env python3
# make-goldens.py: build small tokenizer.json files that use the component types
# real models use, and record what Hugging Face `tokenizers` makes of a set of texts.
#
# Provenance: trained here with Hugging Face tokenizers 0.23.3 (and, for the
# SentencePiece-converted ones, sentencepiece 0.2.x + protobuf) from PyPI, on the
# first 1500 documents of SciFact (../shared/datasets/scifact/corpus.jsonl, BEIR,
# CC BY 4.0) plus the golden texts.  Deterministic for a given library version.
# Regenerate:
#   python3 -m venv /tmp/v && /tmp/v/bin/pip install tokenizers==0.23.3 sentencepiece protobuf
#   /tmp/v/bin/python tests/data/hf-tokenizers/make-goldens.py [SHARED_DIR]
# Writes tests/data/hf-tokenizers/<name>/tokenizer.json and golden.json:
#   {"tokenizers": {name: {"single": [ids...], "plain": [ids...], "pairs": [[ids, type_ids]...]}}, "texts": [...], "pairs": [[a, b]...]}
# "single": encode(text) (special tokens added, added tokens parsed, as HF always does);
# "plain": encode(text, add_special_tokens=False).
import json, os, sys, tempfile

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

here = os.path.dirname(os.path.abspath(__file__))
shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "..", "..", "shared")
texts = [r["text"] for r in json.load(open(os.path.join(shared, "fixtures/golden/tokenize-bert.json")))["rows"]]
texts += [
    "", " ", "Hello  world", "  leading and trailing  ", "ÉCOLE naïve café façade",
    "ﬁne ligature ① ½ Ｆｕｌｌｗｉｄｔｈ ㎏", "İstanbul DİYARBAKIR", "e\u0301 combining a\u0308", "안녕하세요 세계",
    "مرحبا بالعالم", "สวัสดีครับ", "🦙 llamas 🦙🦙", "tab\there\nnew line\r\nwindows",
    "a <mask> b", "a<mask>b", "x [MASK]  y", "[MASK]", "the <ent> thing", "the<ent>thing", "<ent>",
    "</s> inside </s> twice", "<sep>foo<sep> bar <sep>", "mid-token and mid-token2", "<extra_id_0> fill <extra_id_1>",
    "3.14159 and 1,000,000 and 2024-11-23", "e-mail co-operate/re-use", "path/to/file.txt; other,list.",
    "x" * 150, "supercalifragilisticexpialidocious" * 4, "UPPER lower MiXeD", "\u00a0nbsp\u2003emspace\u200bzwsp",
    "control\u0001chars\u007f\u0085here", "<unk> literal", "<s> start", "[CLS] [SEP] [UNK]",
    "The patients (n = 42) received 5 mg/kg/day of drug X-123.",
]
pairs = [["what causes fever", "Fever is caused by pyrogens."], ["", "empty first"],
         ["a <mask> b", "the <ent> thing"], ["Hello  world", "ÉCOLE naïve café"]]
corpus = []
for i, l in enumerate(open(os.path.join(shared, "datasets/scifact/corpus.jsonl"))):
    if i >= 1500:
        break
    r = json.loads(l)
    corpus.append((r.get("title") or "") + " " + r["text"])
corpus += texts


def template(tok, single, pair, specials):
    tok.post_processor = processors.TemplateProcessing(
        single=single, pair=pair, special_tokens=[(s, tok.token_to_id(s)) for s in specials])


def unigram_metaspace():
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.train_from_iterator(corpus, trainers.UnigramTrainer(vocab_size=800, special_tokens=["<pad>", "</s>", "<unk>"],
                                                            unk_token="<unk>"))
    tok.add_tokens([AddedToken("<sep>", lstrip=True, rstrip=True, normalized=False),
                    AddedToken("mid-token", normalized=True)])
    template(tok, "$A </s>", "$A </s> $B:1 </s>:1", ["</s>"])
    return tok


_spm = []


def spm_model():
    import sentencepiece as spmlib
    from sentencepiece import sentencepiece_model_pb2 as pb
    if _spm:
        return _spm[0]
    d = tempfile.mkdtemp()
    with open(os.path.join(d, "c.txt"), "w") as f:
        for c in corpus:
            f.write(c.replace("\n", " ") + "\n")
    spmlib.SentencePieceTrainer.train(input=os.path.join(d, "c.txt"), model_prefix=os.path.join(d, "m"), vocab_size=1000,
                                      model_type="unigram", normalization_rule_name="nmt_nfkc", byte_fallback=True,
                                      pad_id=0, eos_id=1, unk_id=2, bos_id=-1, character_coverage=0.9995,
                                      num_threads=1, minloglevel=2)
    m = pb.ModelProto()
    m.ParseFromString(open(os.path.join(d, "m.model"), "rb").read())
    _spm.append(m)
    return m


def spm(prepend, precompiled):
    m = spm_model()
    vocab = [(p.piece, p.score) for p in m.pieces]
    tok = Tokenizer(models.Unigram(vocab, unk_id=2, byte_fallback=True))
    if precompiled:
        # what transformers' SpmConverter writes for T5 / XLM-R style models
        tok.normalizer = normalizers.Sequence([normalizers.Precompiled(m.normalizer_spec.precompiled_charsmap),
                                               normalizers.Replace(Regex(" {2,}"), " ")])
    else:
        # the same vocabulary without the 240 kB charsmap: NFKC, spaces merged, the end stripped
        tok.normalizer = normalizers.Sequence([normalizers.Strip(left=False, right=True), normalizers.NFKC(),
                                               normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme=prepend, split=True)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme=prepend, split=True)
    tok.add_special_tokens(["<pad>", "</s>", "<unk>"] + ["<extra_id_%d>" % i for i in range(3)])
    template(tok, "$A </s>", "$A </s> $B </s>", ["</s>"])
    return tok


def bpe_zoo():
    tok = Tokenizer(models.BPE(unk_token="[UNK]", end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase(),
                                           normalizers.Strip()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(),
                                                 pre_tokenizers.Digits(individual_digits=True)])
    tok.decoder = decoders.BPEDecoder(suffix="</w>")
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=900, special_tokens=["[UNK]", "[CLS]", "[SEP]"],
                                                        end_of_word_suffix="</w>"))
    tok.add_special_tokens([AddedToken("[MASK]", lstrip=True, normalized=False)])
    tok.add_tokens([AddedToken("<ent>", single_word=True, normalized=False)])
    tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")), ("[CLS]", tok.token_to_id("[CLS]")))
    return tok


def wordpiece_zoo():
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False, clean_text=True,
                                                handle_chinese_chars=True)
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=False)])
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=1200,
                                                              special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    template(tok, "[CLS] $A [SEP]", "[CLS] $A [SEP] $B:1 [SEP]:1", ["[CLS]", "[SEP]"])
    return tok


def bytelevel_roberta():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=1000, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, normalized=False)])
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")))
    return tok


def bpe_bytefallback():
    # llama / mistral style: SentencePiece-like BPE, spaces as U+2581, unknown characters as <0xXX> bytes
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    specials = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=1200, special_tokens=specials, limit_alphabet=120))
    template(tok, "<s> $A", "<s> $A <s>:1 $B:1", ["<s>"])
    return tok


def split_regex():
    # qwen2-style regex split, then byte-level without its own regex; merges ignored for whole-vocabulary words
    pat = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(pat), "isolated"),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=1000, special_tokens=["<|endoftext|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.add_special_tokens(["<|im_start|>", "<|im_end|>"])
    return tok


def wordlevel_splits():
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence([normalizers.Nmt(), normalizers.NFKD(), normalizers.StripAccents(),
                                           normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(" ", "merged_with_next"),
        pre_tokenizers.Split(Regex("[,.;]"), "merged_with_previous"),
        pre_tokenizers.Split("-", "removed"),
        pre_tokenizers.Split(Regex("[0-9]"), "contiguous"),
        pre_tokenizers.Split(Regex("[a-z]+"), "removed", invert=True),
        pre_tokenizers.CharDelimiterSplit("/"),
    ])
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(vocab_size=1500, special_tokens=["[UNK]", "[BOS]"]))
    template(tok, "[BOS] $A", "[BOS] $A [BOS]:1 $B:1", ["[BOS]"])
    return tok


builders = {
    "unigram-metaspace": unigram_metaspace,
    "spm-t5": lambda: spm("always", True),
    "spm-first": lambda: spm("first", False),
    "bpe-zoo": bpe_zoo,
    "wordpiece-zoo": wordpiece_zoo,
    "bytelevel-roberta": bytelevel_roberta,
    "bpe-bytefallback": bpe_bytefallback,
    "split-regex": split_regex,
    "wordlevel-splits": wordlevel_splits,
}
gold = {"texts": texts, "pairs": pairs, "tokenizers": {}}
for name, build in builders.items():
    tok = build()
    os.makedirs(os.path.join(here, name), exist_ok=True)
    tok.save(os.path.join(here, name, "tokenizer.json"))
    tok = Tokenizer.from_file(os.path.join(here, name, "tokenizer.json"))
    g = {"single": [tok.encode(t).ids for t in texts],
         "plain": [tok.encode(t, add_special_tokens=False).ids for t in texts],
         "pairs": [[e.ids, e.type_ids] for e in (tok.encode(a, b) for a, b in pairs)]}
    gold["tokenizers"][name] = g
    print(name, tok.get_vocab_size(), file=sys.stderr)
with open(os.path.join(here, "golden.json"), "w") as f:
    json.dump(gold, f, ensure_ascii=False, indent=None)
    f.write("\n")
