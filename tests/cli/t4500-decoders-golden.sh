#!/bin/sh
# llama and qwen3 decoders end to end against transformers (issue #9):
# tests/data/decoders' Hugging Face directories (tiny-llama: llama3 RoPE
# scaling, untied output; tiny-qwen3: q/k norms, head_dim 32) and the GGUFs
# rag-model convert makes of them.  Tokenization equals transformers'; greedy
# text from the directory and from its F32 and F16 conversions equals
# transformers' greedy text (the README: identical greedy tokens for F32/F16;
# the logits themselves are checked in tests/unit/test-decoders).  That claim
# is the CPU's, so those runs say --device cpu: on a GPU, tiny random models'
# top-1 margins are below the GPU's rounding, and test-cuda-decoder checks the
# GPU against the same goldens by margin.  BF16 and Q8_0 conversions run (on
# the GPU where there is one).  RoPE scalings ragkit does not implement are refused by
# name (exit 78), and rag-model info says so.
. "$top_srcdir/tests/cli/lib.sh"

command -v python3 >/dev/null 2>&1 || skip_all 'python3 is needed to read the goldens'
D="$TESTDATA/decoders"

# greedy MODEL GOLDEN [ROWS]: each row's prompt (all five by default) gives
# its 16 greedy tokens as the golden greedy_text (and a newline)
greedy() {
	python3 -c 'import json,sys
for i, r in enumerate(json.load(open(sys.argv[1]))["rows"]):
    open("prompt%d" % i, "w", encoding="utf-8").write(r["prompt"])
    open("want%d" % i, "wb").write((r["greedy_text"] + "\n").encode("utf-8"))' "$2" &&
	for i in ${3:-0 1 2 3 4}; do
		rag-generate --device cpu --threads 1 --model "$1" --no-chat --ignore-eos --max-tokens 16 -p "$(cat prompt$i)" >out &&
		test_cmp want$i out || return 1
	done
}
# variant NAME ROPE: a copy of tiny-llama (weights linked) whose config.json has
# rope_parameters replaced by the JSON members ROPE
variant() {
	mkdir "$1" &&
	for f in model.safetensors tokenizer.json tokenizer_config.json; do ln -s "$D/tiny-llama/$f" "$1/$f" || return 1; done &&
	python3 -c 'import json,sys
c = json.load(open(sys.argv[1])); del c["rope_parameters"]; c.update(json.loads("{" + sys.argv[2] + "}"))
json.dump(c, open(sys.argv[3], "w"), indent=2)' "$D/tiny-llama/config.json" "$2" "$1/config.json"
}

for m in tiny-llama tiny-qwen3; do
	g="$D/golden/$m.json"
	test_expect_success "$m: rag-tokenize gives transformers' prompt ids, from the directory and converted" '
		rag-model convert --type q8_0 "$D/'$m'" q.gguf &&
		python3 -c "import json,sys
for r in json.load(open(sys.argv[1]))[\"rows\"]: print(json.dumps({\"text\": r[\"prompt\"], \"want\": r[\"prompt_ids\"]}))" "'"$g"'" >in &&
		for model in "$D/'$m'" q.gguf; do
			rag-tokenize --model "$model" in >out &&
			python3 -c "import json
n = 0
for l in open(\"out\"):
    r = json.loads(l); assert r[\"ids\"] == r[\"want\"], r; n += 1
assert n == 5, n" || exit 1
		done
	'
	test_expect_success "$m directory: greedy text equals transformers'" '
		greedy "$D/'$m'" "'"$g"'"
	'
	for t in f32 f16; do
		# all rows for f16, two for f32 (test-decoders checks its logits)
		rows=; [ $t = f32 ] && rows="0 3"
		test_expect_success "$m converted to $t: runnable, greedy text equals transformers'" '
			rag-model convert --type '$t' "$D/'$m'" m.gguf &&
			rag-model info m.gguf >info && grep_q "^runnable: *yes" info &&
			greedy m.gguf "'"$g"'" "'"$rows"'"
		'
	done
	for t in bf16 q8_0; do
		test_expect_success "$m converted to $t: runnable, generates 16 tokens" '
			rag-model convert --type '$t' "$D/'$m'" m.gguf &&
			rag-model info m.gguf >info && grep_q "^runnable: *yes" info &&
			echo "{\"prompt\": \"The capital of France is\"}" >in &&
			rag-generate --threads 1 --model m.gguf --mode record --no-chat --ignore-eos --max-tokens 16 <in >out &&
			grep_q "\"completion_tokens\":16" out
		'
	done
done

test_expect_success 'tiny-llama with linear RoPE scaling: greedy text equals transformers, old and new keys' '
	variant lin "\"rope_parameters\": {\"rope_type\": \"linear\", \"rope_theta\": 50000.0, \"factor\": 4.0}" &&
	greedy lin "$D/golden/tiny-llama-linear.json" &&
	variant lin2 "\"rope_theta\": 50000.0, \"rope_scaling\": {\"type\": \"linear\", \"factor\": 4.0}" &&
	rag-model convert --type f16 lin2 lin2.gguf &&
	rag-model info --metadata lin2.gguf >info &&
	grep_q "llama.rope.scaling.type  *str  *.linear." info &&
	grep_q "llama.rope.scaling.factor  *f32  *4\$" info &&
	greedy lin2.gguf "$D/golden/tiny-llama-linear.json" "0 2"
'

for rope in yarn dynamic longrope; do
	test_expect_code 78 "RoPE scaling $rope: rag-generate refuses it by name" '
		variant r-'$rope' "\"rope_parameters\": {\"rope_type\": \"'$rope'\", \"rope_theta\": 50000.0, \"factor\": 4.0, \"original_max_position_embeddings\": 32}" &&
		rag-generate --model r-'$rope' --no-chat -p hello 2>err >out
		rc=$? && grep_q "RoPE scaling '"'$rope'"' is not supported" err && test ! -s out && exit $rc
	'
done
test_expect_success 'rag-model info says a yarn model is not runnable, and convert keeps the key' '
	variant ryarn "\"rope_parameters\": {\"rope_type\": \"yarn\", \"rope_theta\": 50000.0, \"factor\": 4.0, \"original_max_position_embeddings\": 32}" &&
	{ rag-model info ryarn >info; test $? -eq 1; } &&
	grep_q "^runnable: *no: RoPE scaling .yarn. is not supported" info &&
	rag-model convert ryarn r.gguf && { rag-model info r.gguf >info; test $? -eq 1; } &&
	grep_q "^runnable: *no: RoPE scaling .yarn." info &&
	{ rag-generate --model r.gguf --no-chat -p hello 2>err; test $? -eq 78; } &&
	grep_q "RoPE scaling .yarn. is not supported" err
'
test_expect_code 78 'llama3 scaling without its factor is a bad model (78), naming the key' '
	variant rl3 "\"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 50000.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 32}" &&
	rag-model info rl3 2>err; rc=$?
	grep_q "config.json.*llama3 RoPE scaling without a positive .factor." err && exit $rc
'
for hd in 1e300 -3 2.5; do
	test_expect_code 78 "head_dim $hd is a bad model (78), naming the key" '
		variant hd-'$hd' "\"head_dim\": '$hd'" &&
		rag-model info hd-'$hd' 2>err; rc=$?
		grep_q "config.json.: head_dim .* is not an integer in 1..1024" err && exit $rc
	'
done

test_done
