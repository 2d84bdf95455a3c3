/* test-progress.c: progress formatting and the disabled state. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "progress.h"

Test(progress, format_with_total_rate_and_eta)
{
	struct rag_progress p;
	char line[128];

	rag_progress_init(&p, NULL, 0, "rag-embed", "records", 1000);
	p.t0 = 100.0;
	p.done = 250;
	rag_progress_format(&p, 110.0, line, sizeof line);
	cr_assert_str_eq(line, "250/1000 records, 25.0/s, ETA 0:30");
}

Test(progress, format_without_total)
{
	struct rag_progress p;
	char line[128];

	rag_progress_init(&p, NULL, 0, "x", "chunks", 0);
	p.t0 = 0;
	p.done = 7200;
	rag_progress_format(&p, 2.0, line, sizeof line);
	cr_assert_str_eq(line, "7200 chunks, 3600.0/s");
}

Test(progress, disabled_writes_nothing_and_enabled_writes_lines)
{
	struct rag_progress p;
	FILE *f = tmpfile();
	char buf[256];
	size_t n;

	rag_progress_init(&p, NULL, 0, "x", "records", 10);
	rag_progress_update(&p, 5);
	rag_progress_finish(&p);

	rag_progress_init(&p, f, 0, "rag-x", "records", 10);
	p.t0 -= 10;  /* pretend it has run for 10 s: the final line is written */
	rag_progress_update(&p, 10);
	rag_progress_finish(&p);
	rewind(f);
	n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = '\0';
	cr_assert(strstr(buf, "rag-x: 10/10 records") != NULL, "%s", buf);
	cr_assert(strchr(buf, '\r') == NULL);
	fclose(f);
}
