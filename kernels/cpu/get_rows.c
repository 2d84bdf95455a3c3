/* get_rows.c: embedding lookup, dequantizing selected rows of a table of any GGUF type. */
#include "config.h"

#include "kernels.h"

/* out[t][0..n) = row ids[t] of table (rows of n elements of type `type`).
 * Returns 0, or -1 when an id is outside [0, n_rows). */
int rag_get_rows(float *out, const void *table, enum rag_dtype type, int64_t n_rows, int64_t n,
		 const int32_t *ids, int64_t n_ids)
{
	size_t rb = rag_dtype_row_size((uint32_t)type, n);

	for (int64_t t = 0; t < n_ids; t++) {
		if (ids[t] < 0 || ids[t] >= n_rows)
			return -1;
		rag_dequant_row(type, (const uint8_t *)table + (size_t)ids[t] * rb, out + t * n, n);
	}
	return 0;
}
