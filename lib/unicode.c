/* unicode.c: UTF-8 decoding, code point classes (from utf8proc) and small normalizations. */
#include "config.h"

#include <pthread.h>
#include <utf8proc.h>

#include "buf.h"
#include "unicode.h"

static uint8_t table[0x110000];
const uint8_t *rag_u_table = table;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static int is_white_space(uint32_t c)
{
	return (c >= 9 && c <= 13) || c == 32 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
	       c == 0x205F || c == 0x3000;
}

static void build_table(void)
{
	for (uint32_t c = 0; c < 0x110000; c++) {
		uint8_t f = 0;
		switch (utf8proc_category((utf8proc_int32_t)c)) {
		case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
		case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
			f = RAG_U_L; break;
		case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
			f = RAG_U_N; break;
		case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
		case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
		case UTF8PROC_CATEGORY_PO:
			f = RAG_U_P; break;
		case UTF8PROC_CATEGORY_SM: case UTF8PROC_CATEGORY_SC: case UTF8PROC_CATEGORY_SK:
		case UTF8PROC_CATEGORY_SO:
			f = RAG_U_S; break;
		case UTF8PROC_CATEGORY_MN:
			f = RAG_U_M | RAG_U_MN; break;
		case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
			f = RAG_U_M; break;
		case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS:
		case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_CN:
			f = RAG_U_OTHER; break;
		default:
			f = 0; break;  /* Zs Zl Zp */
		}
		if (is_white_space(c))
			f |= RAG_U_WS;
		table[c] = f;
	}
}

void rag_u_init(void)
{
	pthread_once(&table_once, build_table);
}

uint8_t rag_u_flags(uint32_t cp)
{
	rag_u_init();
	return cp < 0x110000 ? table[cp] : 0;
}

uint32_t rag_utf8_decode(const unsigned char *s, size_t n, size_t *len)
{
	unsigned b0 = s[0];
	unsigned lo = 0x80, hi = 0xBF;
	size_t need, i;
	uint32_t cp;

	if (b0 < 0x80) {
		*len = 1;
		return b0;
	}
	if (b0 >= 0xC2 && b0 <= 0xDF) {
		need = 1; cp = b0 & 0x1F;
	} else if (b0 >= 0xE0 && b0 <= 0xEF) {
		need = 2; cp = b0 & 0x0F;
		if (b0 == 0xE0) lo = 0xA0;
		if (b0 == 0xED) hi = 0x9F;
	} else if (b0 >= 0xF0 && b0 <= 0xF4) {
		need = 3; cp = b0 & 0x07;
		if (b0 == 0xF0) lo = 0x90;
		if (b0 == 0xF4) hi = 0x8F;
	} else {
		*len = 1;
		return 0xFFFD;
	}
	for (i = 1; i <= need; i++) {
		unsigned b;
		if (i >= n) {
			*len = i;
			return 0xFFFD;
		}
		b = s[i];
		if (b < lo || b > hi) {
			*len = i;
			return 0xFFFD;
		}
		lo = 0x80; hi = 0xBF;
		cp = (cp << 6) | (b & 0x3F);
	}
	*len = need + 1;
	return cp;
}

size_t rag_utf8_encode(uint32_t cp, char *out)
{
	unsigned char *o = (unsigned char *)out;
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | (cp >> 18));
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

size_t rag_utf8_valid_prefix(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, len;

	while (i < n) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		if (rag_utf8_decode(u + i, n - i, &len) == 0xFFFD &&
		    !(len == 3 && u[i] == 0xEF && u[i + 1] == 0xBF && u[i + 2] == 0xBD))
			return i;
		i += len;
	}
	return n;
}

void rag_utf8_repair(struct rag_buf *out, const char *s, size_t n)
{
	size_t i = rag_utf8_valid_prefix(s, n), l;

	rag_buf_add(out, s, i);
	for (; i < n; i += l) {
		uint32_t cp = rag_utf8_decode((const unsigned char *)s + i, n - i, &l);
		if (cp == 0xFFFD)
			rag_buf_add(out, "\xef\xbf\xbd", 3);
		else
			rag_buf_add(out, s + i, l);
	}
}

int rag_u_is_cjk(uint32_t c)
{
	return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
	       (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
	       (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
	       (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

uint32_t rag_u_lower(uint32_t cp)
{
	if (cp < 0x80)
		return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
	return (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
}

int rag_u_nfd(uint32_t cp, uint32_t *out, int cap)
{
	utf8proc_int32_t buf[8];
	int last = 0;
	utf8proc_ssize_t n;

	if (cp < 0xC0) {
		out[0] = cp;
		return 1;
	}
	n = utf8proc_decompose_char((utf8proc_int32_t)cp, buf, 8, UTF8PROC_DECOMPOSE, &last);
	if (n <= 0 || n > 8 || n > cap) {
		out[0] = cp;
		return 1;
	}
	for (utf8proc_ssize_t i = 0; i < n; i++)
		out[i] = (uint32_t)buf[i];
	return (int)n;
}

static uint32_t b2c[256];
static int16_t c2b[324];
static pthread_once_t bl_once = PTHREAD_ONCE_INIT;

static void build_byte_level(void)
{
	uint32_t n = 0;
	for (int i = 0; i < 324; i++)
		c2b[i] = -1;
	for (int b = 0; b < 256; b++) {
		if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))
			b2c[b] = (uint32_t)b;
		else
			b2c[b] = 256 + n++;
		c2b[b2c[b]] = (int16_t)b;
	}
}

uint32_t rag_u_byte_to_cp(uint8_t b)
{
	pthread_once(&bl_once, build_byte_level);
	return b2c[b];
}

int rag_u_cp_to_byte(uint32_t cp)
{
	pthread_once(&bl_once, build_byte_level);
	return cp < 324 ? c2b[cp] : -1;
}
