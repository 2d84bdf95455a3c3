#!/bin/sh
# rag-retrieve's dense leg runs on the GPU when one works (exact search,
# search_cuda.c; RAG_DEVICE=cuda forces it for these small indexes, which
# auto leaves on the CPU) and must give the CPU's hits: same ids in the same order,
# scores equal to rounding, for f32/f16 storage, cosine/ip/l2, k up to 1000
# and a metadata filter applied before the top-k.  At k 50 the 20 queries go
# to the GPU in runs of up to 8 (rag_gpu_dense_run): 8, 8 and 4; at k 10 one
# by one (the one-pass scan).  RAG_DEVICE=cpu forces the CPU.  Without a GPU
# both runs are the CPU's and the test checks the filter and k paths all the
# same.  -v says where the dense leg ran, and why not on the GPU; --device
# cuda without a GPU is exit 69, as in the other programs.
. "$top_srcdir/tests/cli/lib.sh"

command -v python3 >/dev/null 2>&1 || skip_all 'python3 is needed to make the vectors'
command -v jq >/dev/null 2>&1 || skip_all 'jq is needed'

python3 -c 'import json, random
r = random.Random(5)
for i in range(3000):
    v = [r.uniform(-1, 1) for _ in range(24)]
    print(json.dumps({"id": "c%d" % i, "doc_id": "d%d" % (i // 3), "text": "chunk %d" % i,
                      "meta": {"g": i % 4}, "embedding": v}))' >c.jsonl
python3 -c 'import json, random
r = random.Random(9)
for i in range(20):
    print(json.dumps({"qid": "q%d" % i, "embedding": [r.uniform(-1, 1) for _ in range(24)]}))' >q.jsonl

echo '{"id":1,"text":"probe"}' >probe
if rag-embed --model "$FIXTURES/models/tiny-embed-mean-f16.gguf" --device cuda probe >/dev/null 2>&1; then
	gpu=yes dev=cuda
else
	gpu=no dev=auto  # --device cuda is exit 69 without a GPU (checked below)
fi

# ids and scores of every hit, one per line
hits() {
	jq -r '"\(.qid) \(.id) \(.score)"'
}
same() {
	python3 -c 'import sys
a = [l.split() for l in open(sys.argv[1])]; b = [l.split() for l in open(sys.argv[2])]
assert len(a) == len(b) and len(a) > 0, (len(a), len(b))
for x, y in zip(a, b):
    assert x[0] == y[0] and x[1] == y[1], (x, y)
    assert abs(float(x[2]) - float(y[2])) <= 1e-4 * (1 + abs(float(y[2]))), (x, y)' "$1" "$2"
}

for s in f32 f16; do
	for m in cosine ip l2; do
		test_expect_success "$s $m: RAG_DEVICE=cuda and RAG_DEVICE=cpu give the same hits" '
			rm -f x.rag && rag-index --storage '$s' --metric '$m' x.rag c.jsonl &&
			RAG_DEVICE=$dev rag-retrieve --mode dense -k 50 x.rag <q.jsonl | hits >gpu &&
			RAG_DEVICE=cpu rag-retrieve --mode dense -k 50 x.rag <q.jsonl | hits >cpu &&
			same gpu cpu && test $(wc -l <cpu) -eq 1000 &&
			RAG_DEVICE=$dev rag-retrieve --mode dense -k 10 x.rag <q.jsonl | hits >gpu &&
			RAG_DEVICE=cpu rag-retrieve --mode dense -k 10 x.rag <q.jsonl | hits >cpu &&
			same gpu cpu && test $(wc -l <cpu) -eq 200 &&
			head -n 1 q.jsonl | RAG_DEVICE=$dev rag-retrieve --mode dense -k 10 x.rag | hits >gpu &&
			head -n 10 cpu >cpu1 && same gpu cpu1
		'
	done
done

test_expect_success 'k 1000 and a filter applied before the top-k' '
	rm -f x.rag && rag-index x.rag c.jsonl &&
	RAG_DEVICE=$dev rag-retrieve --mode dense -k 1000 --filter "g = 2" x.rag <q.jsonl | hits >gpu &&
	RAG_DEVICE=cpu rag-retrieve --mode dense -k 1000 --filter "g = 2" x.rag <q.jsonl | hits >cpu &&
	same gpu cpu && test $(wc -l <cpu) -eq 15000 &&
	RAG_DEVICE=$dev rag-retrieve --mode dense -k 1000 --filter "g = 2" x.rag <q.jsonl | jq -e ".meta.g == 2" >/dev/null
'
test_expect_success '-v says where the dense leg ran, once an index; nothing without it' '
	rm -f x.rag y.rag && rag-index x.rag c.jsonl && head -n 100 c.jsonl | rag-index y.rag &&
	RAG_DEVICE=cpu rag-retrieve -v --batch 2 --mode dense x.rag y.rag <q.jsonl >/dev/null 2>err &&
	grep_q "rag-retrieve: x.rag: exact dense search on the CPU: as asked" err &&
	grep_q "rag-retrieve: y.rag: exact dense search on the CPU: as asked" err &&
	test $(grep -c "exact dense search" err) -eq 2 &&
	RAG_DEVICE=cpu rag-retrieve --mode dense x.rag y.rag <q.jsonl >/dev/null 2>err &&
	test ! -s err
'
test_expect_success '-v: auto leaves a small index on the CPU and says why' '
	env -u RAG_DEVICE rag-retrieve -v --mode dense x.rag <q.jsonl >/dev/null 2>err &&
	if [ $gpu = yes ]; then
		grep_q "x.rag: exact dense search on the CPU: fewer than 4194304 stored numbers" err
	else
		grep -q -e "on the CPU: no usable GPU" -e "on the CPU: this ragkit was built without CUDA" err
	fi
'
test_expect_success '--device cpu is RAG_DEVICE=cpu; --device wins over RAG_DEVICE' '
	RAG_DEVICE=$dev rag-retrieve -v --device cpu --mode dense x.rag <q.jsonl >/dev/null 2>err &&
	grep_q "x.rag: exact dense search on the CPU: as asked" err
'
test_expect_code 64 'a bad --device is a usage error' '
	rag-retrieve --device tpu x.rag <q.jsonl
'
if [ $gpu = yes ]; then
	test_expect_success '--device cuda runs a small index on the GPU and -v says so' '
		rag-retrieve -v --device cuda --mode dense x.rag <q.jsonl >/dev/null 2>err &&
		grep_q "x.rag: exact dense search on the GPU (" err
	'
	test_expect_success '-v: k above 1024 is searched on the CPU, and says so' '
		head -n 1 q.jsonl | rag-retrieve -v --device cuda -k 1025 --mode dense x.rag >/dev/null 2>err &&
		grep_q "x.rag: exact dense search on the CPU: k above 1024" err
	'
else
	test_expect_code 69 'no GPU: --device cuda is exit 69' '
		rag-retrieve --device cuda --mode dense x.rag <q.jsonl >out 2>err
	'
	test_expect_success 'no GPU: the message says why, and nothing was written' '
		grep -q -e "cannot use --device cuda" err && test ! -s out
	'
	test_expect_code 69 'no GPU: RAG_DEVICE=cuda is exit 69 too' '
		RAG_DEVICE=cuda rag-retrieve --mode dense x.rag <q.jsonl
	'
fi
test_done
