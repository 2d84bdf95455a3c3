#!/bin/sh
# tokenize.sh: ragkit's tokenizers vs Hugging Face `tokenizers` (PyPI) on the same texts.
#
#   bench/tokenize.sh [BUILD_DIR] [CORPUS.jsonl] [REPS]
#
# For the BERT (bert-bge WordPiece) and GPT-2 (byte-level BPE) vocabularies:
# MB/s of text (UTF-8 bytes of the `text` fields) tokenized without special
# tokens, single thread and all threads, best of REPS runs, for
#   ragkit lib  rag_tokenize in a loop (bench/tokenize-lib.c, OpenMP for threads)
#   ragkit cli  rag-tokenize --count end to end (JSON parsing and writing included)
#   HF          Tokenizer.encode per text (RAYON_NUM_THREADS=1) / encode_batch (all threads)
# and the ratio ragkit/HF.  Both sides must count the same number of tokens.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
corpus=${2:-$top/../shared/datasets/scifact/corpus.jsonl}
reps=${3:-3}
fx=$top/tests/data/fixtures
hf=$top/../shared/fixtures/tokenizers
[ -d "$hf" ] || hf=/work/shared/fixtures/tokenizers
nproc=$(nproc)

python3 -m pip install --quiet tokenizers 2>/dev/null || true
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -march=native -fopenmp -I"$top/lib" -I"$top/kernels" -I"$build" "$top/bench/tokenize-lib.c" \
	-L"$build/lib/.libs" -lrag -Wl,-rpath,"$build/lib/.libs" -o "$tmp/tokenize-lib"

printf '%-6s %-8s %12s %12s %12s %9s %9s\n' vocab threads ragkit_lib ragkit_cli hf "lib/hf" "cli/hf"
for v in bert gpt2; do
	case $v in
	bert) model=$fx/vocab/ggml-vocab-bert-bge.gguf ;;
	gpt2) model=$fx/vocab/ggml-vocab-gpt-2.gguf ;;
	esac
	for th in 1 $nproc; do
		set -- $("$tmp/tokenize-lib" "$model" "$corpus" "$th" "$reps")
		lib=$1 lib_tok=$2 bytes=$4
		if [ "$th" -eq 1 ]; then
			set -- $(RAYON_NUM_THREADS=1 python3 "$top/bench/tokenize-peer.py" "$hf/$v/tokenizer.json" "$corpus" single "$reps")
		else
			set -- $(RAYON_NUM_THREADS=$th python3 "$top/bench/tokenize-peer.py" "$hf/$v/tokenizer.json" "$corpus" batch "$reps")
		fi
		hfr=$1 hf_tok=$2
		[ "$lib_tok" = "$hf_tok" ] || echo "warning: $v: ragkit counted $lib_tok tokens, HF $hf_tok" >&2
		best=
		r=0
		while [ $r -lt "$reps" ]; do
			s=$(date +%s.%N)
			"$build/cmd/rag-tokenize" --model "$model" --no-special --count --threads "$th" "$corpus" >/dev/null
			e=$(date +%s.%N)
			dt=$(echo "$e - $s" | bc -l)
			if [ -z "$best" ] || [ "$(echo "$dt < $best" | bc -l)" -eq 1 ]; then best=$dt; fi
			r=$((r + 1))
		done
		cli=$(echo "scale=2; $bytes / $best / 1000000" | bc -l)
		printf '%-6s %-8s %12s %12s %12s %8.1fx %8.1fx\n' "$v" "$th" "$lib" "$cli" "$hfr" \
			"$(echo "$lib / $hfr" | bc -l)" "$(echo "$cli / $hfr" | bc -l)"
	done
done
echo "(MB/s of UTF-8 text; $(basename "$corpus"): $bytes bytes; best of $reps; $(lscpu | sed -n 's/^Model name: *//p'), $nproc cores)"
