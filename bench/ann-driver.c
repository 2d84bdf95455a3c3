/* ann-driver.c: ragkit's side of bench/ann.sh: build an HNSW index over raw
 * float32 vectors, then time single-threaded searches at several ef values and
 * score recall@k against a ground-truth file.  Prints one JSON object a line.
 * Built by bench/ann.sh against the built librag; not an installed program. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hnsw.h"
#include "options.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* CPU seconds of this process: on a shared machine, wall time mostly measures
 * the other jobs; CPU time measures the work (the peers are timed the same way). */
static double cpu(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static long rss_kb(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static void *slurp(const char *path, size_t want)
{
	FILE *f = fopen(path, "rb");
	void *p = malloc(want);
	if (!f || !p || fread(p, 1, want, f) != want) {
		fprintf(stderr, "ann-driver: cannot read %zu bytes from '%s'\n", want, path);
		exit(66);
	}
	fclose(f);
	return p;
}

int main(int argc, char **argv)
{
	const char *base = NULL, *qpath = NULL, *gtpath = NULL, *save = NULL, *efs = "10,20,40,80,160";
	const char *metric = "cosine", *storage = "f32", *tag = NULL, *load = NULL;
	size_t n = 0, nq = 0, dim = 0, k = 10, gtk = 10;
	int M = 16, efc = 200, threads = 2, reps = 3, c;
	struct rag_error err;
	struct rag_hnsw *h = NULL;
	struct rag_hnsw_params p;
	static const struct option opts[] = {
		{ "base", 1, 0, 'b' }, { "queries", 1, 0, 'q' }, { "gt", 1, 0, 'g' }, { "n", 1, 0, 'n' },
		{ "nq", 1, 0, 'Q' }, { "dim", 1, 0, 'd' }, { "k", 1, 0, 'k' }, { "gt-k", 1, 0, 'G' },
		{ "M", 1, 0, 'M' }, { "efc", 1, 0, 'c' }, { "ef", 1, 0, 'e' }, { "threads", 1, 0, 't' },
		{ "metric", 1, 0, 'm' }, { "storage", 1, 0, 's' }, { "save", 1, 0, 'S' },
		{ "reps", 1, 0, 'r' }, { "tag", 1, 0, 'T' }, { "load", 1, 0, 'L' },
		{ 0, 0, 0, 0 } };

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': base = optarg; break;
		case 'q': qpath = optarg; break;
		case 'g': gtpath = optarg; break;
		case 'n': n = strtoul(optarg, NULL, 10); break;
		case 'Q': nq = strtoul(optarg, NULL, 10); break;
		case 'd': dim = strtoul(optarg, NULL, 10); break;
		case 'k': k = strtoul(optarg, NULL, 10); break;
		case 'G': gtk = strtoul(optarg, NULL, 10); break;
		case 'M': M = (int)strtol(optarg, NULL, 10); break;
		case 'c': efc = (int)strtol(optarg, NULL, 10); break;
		case 'e': efs = optarg; break;
		case 't': threads = (int)strtol(optarg, NULL, 10); break;
		case 'm': metric = optarg; break;
		case 's': storage = optarg; break;
		case 'S': save = optarg; break;
		case 'r': reps = (int)strtol(optarg, NULL, 10); break;
		case 'T': tag = optarg; break;
		case 'L': load = optarg; break;
		default: return 64;
		}
	}
	if (!base || !qpath || !gtpath || !n || !nq || !dim || k > gtk) {
		fprintf(stderr, "usage: ann-driver --base F --n N --dim D --queries F --nq N --gt F [...]\n");
		return 64;
	}
	float *vec = slurp(base, n * dim * sizeof(float));
	float *qv = slurp(qpath, nq * dim * sizeof(float));
	int32_t *gt = slurp(gtpath, nq * gtk * sizeof(int32_t));
	int64_t *labels = malloc(n * sizeof *labels), *out = malloc(nq * k * sizeof *out);
	for (size_t i = 0; i < n; i++)
		labels[i] = (int64_t)i;

	rag_hnsw_params_init(&p, (uint32_t)dim);
	if (rag_hnsw_metric_parse(metric, &p.metric, &err) || rag_hnsw_storage_parse(storage, &p.storage, &err)) {
		fprintf(stderr, "ann-driver: %s\n", err.msg);
		return 64;
	}
	p.M = (uint32_t)M;
	p.ef_construction = (uint32_t)efc;
	rag_set_threads(threads);
	if (!tag)
		tag = storage;
	if (load) {  /* profile searches on an existing file */
		if (rag_hnsw_load(load, 0, &h, &err)) {
			fprintf(stderr, "ann-driver: %s\n", err.msg);
			return 78;
		}
		goto sweep;
	}
	long rss0 = rss_kb();
	double t0 = now(), c0 = cpu();
	if (rag_hnsw_new(&p, &h, &err) || rag_hnsw_add_batch(h, n, labels, vec, threads, &err)) {
		fprintf(stderr, "ann-driver: %s\n", err.msg);
		return 70;
	}
	double build = now() - t0, build_cpu = cpu() - c0;
	long rss1 = rss_kb();
	struct rag_hnsw_stats st;
	rag_hnsw_stats(h, &st);
	printf("{\"system\":\"ragkit-%s\",\"build_s\":%.3f,\"build_cpu_s\":%.3f,\"threads\":%d,\"index_bytes\":%llu,\"rss_delta_bytes\":%ld}\n",
	       tag, build, build_cpu, threads, (unsigned long long)st.memory_bytes, (rss1 - rss0) * 1024);
	if (save) {
		struct rag_hnsw *g;
		t0 = now();
		if (rag_hnsw_save(h, save, &err)) {
			fprintf(stderr, "ann-driver: %s\n", err.msg);
			return 74;
		}
		double ts = now() - t0;
		t0 = now();
		if (rag_hnsw_load(save, 0, &g, &err)) {
			fprintf(stderr, "ann-driver: %s\n", err.msg);
			return 78;
		}
		double tl = now() - t0;
		rag_hnsw_stats(g, &st);
		printf("{\"system\":\"ragkit-%s\",\"save_s\":%.3f,\"load_verify_s\":%.3f,\"file_bytes\":%llu}\n",
		       tag, ts, tl, (unsigned long long)st.mapped_bytes);
		rag_hnsw_free(h);
		h = g;  /* the sweep runs on the mapped file */
	}
sweep:
	free(vec);
	for (const char *e = efs; *e;) {
		unsigned ef = (unsigned)strtoul(e, (char **)&e, 10);
		double best = 1e30;
		size_t hit = 0;
		if (*e == ',')
			e++;
		for (int r = 0; r < reps; r++) {
			t0 = cpu();
			for (size_t i = 0; i < nq; i++) {
				size_t got;
				if (rag_hnsw_search(h, qv + i * dim, k, ef, NULL, NULL, out + i * k, NULL, &got, &err)) {
					fprintf(stderr, "ann-driver: %s\n", err.msg);
					return 70;
				}
			}
			double t = cpu() - t0;
			if (t < best)
				best = t;
		}
		for (size_t i = 0; i < nq; i++)
			for (size_t a = 0; a < k; a++)
				for (size_t b = 0; b < k; b++)
					if (out[i * k + b] == gt[i * gtk + a]) {
						hit++;
						break;
					}
		printf("{\"system\":\"ragkit-%s\",\"ef\":%u,\"recall\":%.4f,\"qps\":%.1f}\n", tag, ef,
		       (double)hit / (double)(nq * k), (double)nq / best);
		fflush(stdout);
	}
	rag_hnsw_free(h);
	free(qv);
	free(gt);
	free(labels);
	free(out);
	return 0;
}
