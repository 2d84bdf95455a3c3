/* progress.h: a progress line (count, rate, ETA) on a stream the caller chooses. */
#ifndef RAG_PROGRESS_H
#define RAG_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

/*
 * The caller decides whether progress is shown (programs: stderr is a
 * terminal, or -v) and hands the stream; lib/ itself never picks one.  On a
 * terminal the line is redrawn in place at most 10 times a second; on any
 * other stream a full line is written at most every 5 seconds.
 */
struct rag_progress {
	FILE *out;          /* NULL: disabled */
	int tty;
	char label[64];     /* e.g. "rag-embed" */
	const char *unit;   /* e.g. "records" */
	uint64_t total;     /* 0 when unknown */
	uint64_t done;
	double t0, last;
	int drawn;
};

double rag_now(void);  /* monotonic seconds */

void rag_progress_init(struct rag_progress *p, FILE *out, int tty, const char *label,
		       const char *unit, uint64_t total);
void rag_progress_set_total(struct rag_progress *p, uint64_t total);
/* Count is the number done so far. */
void rag_progress_update(struct rag_progress *p, uint64_t done);
/* Final line with the totals (ends the in-place line on a terminal). */
void rag_progress_finish(struct rag_progress *p);
/* Format "1234/5000 records, 56.7/s, ETA 1:06" into buf (for tests and reports). */
void rag_progress_format(const struct rag_progress *p, double now, char *buf, size_t n);

#endif
