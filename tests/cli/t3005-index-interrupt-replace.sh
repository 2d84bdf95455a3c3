#!/bin/sh
# rag-index add: SIGINT/SIGTERM roll the run back (exit 130, index unchanged,
# no temporary files); --replace-doc replaces changed documents atomically.
. "$top_srcdir/tests/cli/lib.sh"

# gen N TAG: N chunks of 20 documents, text carrying TAG, 16-dim embeddings.
gen() {
	awk -v n="$1" -v tag="$2" 'BEGIN {
		for (i = 1; i <= n; i++) {
			printf "{\"id\":\"c%d\",\"doc_id\":\"d%d\",\"text\":\"common %s w%d\",\"embedding\":[", i, i % 20, tag, i
			for (d = 0; d < 16; d++)
				printf "%s%.3f", (d ? "," : ""), ((i * 7 + d * 13) % 97) / 97.0 + 0.01
			printf "]}\n"
		}
	}'
}
q='{"qid":"q","text":"common ga gb w7"}'

interrupt() { # SIG: add a large input through a FIFO, signal once it has been read
	rm -f f sent
	mkfifo f || return 1
	{ rag-index x.rag add <f 2>err; echo $? >rc; } &
	bg=$!
	{ cat big.jsonl; : >sent; sleep 20; } >f &
	feeder=$!
	i=0; while ! test -f sent && test $i -lt 600; do sleep 0.1; i=$((i + 1)); done
	sleep 0.2
	pid=$(pgrep -P $bg -x rag-index || pgrep -P $bg)
	kill -"$1" $pid
	wait $bg
	kill $feeder 2>/dev/null
	wait $feeder 2>/dev/null
	rm -f f sent
	true
}

gen 200 ga >small.jsonl && gen 30000 gb >big.jsonl || exit 99
rag-index x.rag small.jsonl || exit 99
echo "$q" | rag-retrieve -q -k 20 x.rag >before || exit 99
rag-index x.rag stats --json >stats.before || exit 99
ls -a | grep "^x\.rag" >files.before

for sig in INT TERM; do
	test_expect_success "SIG$sig mid-add: exit 130, message, index unchanged, no temp files" '
		interrupt '$sig' &&
		test "$(cat rc)" = 130 &&
		grep_q "^rag-index: interrupted; x.rag unchanged$" err &&
		echo "$q" | rag-retrieve -q -k 20 x.rag >after && test_cmp before after &&
		rag-index x.rag stats --json >stats.after && test_cmp stats.before stats.after &&
		ls -a | grep "^x\.rag" >files.after && test_cmp files.before files.after
	'
done

test_expect_success 'after an interrupt the next add works' '
	rag-index --json y.rag small.jsonl >rep && grep_q "\"added\":200" rep
'

test_expect_success '--replace-doc drops the chunks of incoming documents that are gone' '
	rm -f r.rag* &&
	printf "%s\n" "{\"id\":\"a1\",\"doc_id\":\"A\",\"text\":\"alpha one\"}" \
		"{\"id\":\"a2\",\"doc_id\":\"A\",\"text\":\"alpha two\"}" \
		"{\"id\":\"a3\",\"doc_id\":\"A\",\"text\":\"alpha three\"}" \
		"{\"id\":\"b1\",\"doc_id\":\"B\",\"text\":\"beta one\"}" >v1 &&
	rag-index r.rag v1 &&
	printf "%s\n" "{\"id\":\"a1\",\"doc_id\":\"A\",\"text\":\"alpha one\"}" \
		"{\"id\":\"a4\",\"doc_id\":\"A\",\"text\":\"alpha four\"}" >v2 &&
	rag-index --json --replace-doc r.rag add v2 >rep &&
	grep_q "\"added\":1,\"updated\":0,\"unchanged\":1,\"deleted\":2" rep &&
	echo "{\"qid\":\"q\",\"text\":\"alpha beta one two three four\"}" | rag-retrieve -q -k 10 r.rag >hits &&
	jq -r .id hits | sort >ids && printf "%s\n" a1 a4 b1 >want && test_cmp want ids
'

test_expect_success 'without --replace-doc the old chunks stay' '
	rm -f r.rag* && rag-index r.rag v1 && rag-index --json r.rag v2 >rep &&
	grep_q "\"deleted\":0" rep && rag-index r.rag stats --json | jq -e ".chunks == 5" >/dev/null
'

test_expect_success '--replace-doc is one transaction: a bad record keeps the old version' '
	rm -f r.rag* && rag-index r.rag v1 &&
	printf "%s\n" "{\"id\":\"a1\",\"doc_id\":\"A\",\"text\":\"alpha one\"}" "{\"doc_id\":\"A\"}" >v3 &&
	{ rag-index --replace-doc r.rag v3 2>/dev/null; test $? = 65; } &&
	rag-index r.rag stats --json | jq -e ".chunks == 4" >/dev/null
'

test_expect_code 64 '--replace-doc only goes with add' '
	rag-index --replace-doc r.rag delete --id a1
'

test_done
