/* progress.c: rate-limited progress reporting. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "progress.h"

double rag_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void rag_progress_init(struct rag_progress *p, FILE *out, int tty, const char *label,
		       const char *unit, uint64_t total)
{
	memset(p, 0, sizeof *p);
	p->out = out;
	p->tty = tty;
	snprintf(p->label, sizeof p->label, "%s", label ? label : "");
	p->unit = unit ? unit : "items";
	p->total = total;
	p->t0 = p->last = rag_now();
}

void rag_progress_set_total(struct rag_progress *p, uint64_t total)
{
	p->total = total;
}

static void fmt_duration(double s, char *buf, size_t n)
{
	unsigned long t = s < 0 ? 0 : (unsigned long)(s + 0.5);

	if (t >= 3600)
		snprintf(buf, n, "%lu:%02lu:%02lu", t / 3600, (t / 60) % 60, t % 60);
	else
		snprintf(buf, n, "%lu:%02lu", t / 60, t % 60);
}

void rag_progress_format(const struct rag_progress *p, double now, char *buf, size_t n)
{
	double el = now - p->t0;
	double rate = el > 0 ? (double)p->done / el : 0;
	char eta[32] = "";
	int k;

	if (p->total)
		k = snprintf(buf, n, "%llu/%llu %s", (unsigned long long)p->done,
			     (unsigned long long)p->total, p->unit);
	else
		k = snprintf(buf, n, "%llu %s", (unsigned long long)p->done, p->unit);
	if (k < 0 || (size_t)k >= n)
		return;
	if (rate > 0) {
		if (p->total && p->done <= p->total) {
			fmt_duration((double)(p->total - p->done) / rate, eta, sizeof eta);
			snprintf(buf + k, n - (size_t)k, ", %.1f/s, ETA %s", rate, eta);
		} else {
			snprintf(buf + k, n - (size_t)k, ", %.1f/s", rate);
		}
	}
}

static void draw(struct rag_progress *p, double now, int final)
{
	char line[256];

	rag_progress_format(p, now, line, sizeof line);
	if (p->tty)
		fprintf(p->out, "\r%s: %s\033[K%s", p->label, line, final ? "\n" : "");
	else
		fprintf(p->out, "%s: %s\n", p->label, line);
	fflush(p->out);
	p->drawn = 1;
	p->last = now;
}

void rag_progress_update(struct rag_progress *p, uint64_t done)
{
	double now;

	p->done = done;
	if (!p->out)
		return;
	now = rag_now();
	if (now - p->last >= (p->tty ? 0.1 : 5.0))
		draw(p, now, 0);
}

void rag_progress_finish(struct rag_progress *p)
{
	if (!p->out)
		return;
	if (p->tty || p->drawn || rag_now() - p->t0 >= 1.0)
		draw(p, rag_now(), 1);
}
