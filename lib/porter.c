/* porter.c: the Porter stemmer, written from the 1980 paper's rules. */
#include "porter.h"

#include <string.h>

struct stem {
	char *b;    /* the word */
	int k;      /* index of its last letter */
	int j;      /* end of the stem being tested by ends() */
};

/* Is b[i] a consonant?  'y' is one unless it follows a consonant. */
static int cons(const struct stem *z, int i)
{
	switch (z->b[i]) {
	case 'a': case 'e': case 'i': case 'o': case 'u':
		return 0;
	case 'y':
		return i == 0 ? 1 : !cons(z, i - 1);
	default:
		return 1;
	}
}

/* m(): the number of VC sequences in b[0..j]. */
static int measure(const struct stem *z)
{
	int n = 0, i = 0, j = z->j;

	for (;;) {
		if (i > j)
			return n;
		if (!cons(z, i))
			break;
		i++;
	}
	i++;
	for (;;) {
		for (;;) {
			if (i > j)
				return n;
			if (cons(z, i))
				break;
			i++;
		}
		i++;
		n++;
		for (;;) {
			if (i > j)
				return n;
			if (!cons(z, i))
				break;
			i++;
		}
		i++;
	}
}

/* Does b[0..j] contain a vowel? */
static int vowel_in_stem(const struct stem *z)
{
	int i;

	for (i = 0; i <= z->j; i++)
		if (!cons(z, i))
			return 1;
	return 0;
}

/* Does b[j-1..j] end in a double consonant? */
static int doublec(const struct stem *z, int j)
{
	if (j < 1 || z->b[j] != z->b[j - 1])
		return 0;
	return cons(z, j);
}

/* cvc(i): b[i-2..i] is consonant-vowel-consonant and b[i] is not w, x or y. */
static int cvc(const struct stem *z, int i)
{
	int ch;

	if (i < 2 || !cons(z, i) || cons(z, i - 1) || !cons(z, i - 2))
		return 0;
	ch = z->b[i];
	return !(ch == 'w' || ch == 'x' || ch == 'y');
}

/* Does b[0..k] end with s?  Sets j to the end of the part before it. */
static int ends(struct stem *z, const char *s)
{
	int len = (int)strlen(s);

	if (len > z->k + 1)
		return 0;
	if (memcmp(z->b + z->k - len + 1, s, (size_t)len) != 0)
		return 0;
	z->j = z->k - len;
	return 1;
}

/* Replace b[j+1..k] with s. */
static void setto(struct stem *z, const char *s)
{
	int len = (int)strlen(s);

	memcpy(z->b + z->j + 1, s, (size_t)len);
	z->k = z->j + len;
}

static void r(struct stem *z, const char *s)
{
	if (measure(z) > 0)
		setto(z, s);
}

/* Step 1ab: plurals and -ed/-ing. */
static void step1ab(struct stem *z)
{
	if (z->b[z->k] == 's') {
		if (ends(z, "sses"))
			z->k -= 2;
		else if (ends(z, "ies"))
			setto(z, "i");
		else if (z->b[z->k - 1] != 's')
			z->k--;
	}
	if (ends(z, "eed")) {
		if (measure(z) > 0)
			z->k--;
	} else if ((ends(z, "ed") || ends(z, "ing")) && vowel_in_stem(z)) {
		z->k = z->j;
		if (ends(z, "at"))
			setto(z, "ate");
		else if (ends(z, "bl"))
			setto(z, "ble");
		else if (ends(z, "iz"))
			setto(z, "ize");
		else if (doublec(z, z->k)) {
			int ch = z->b[z->k];
			z->k--;
			if (ch == 'l' || ch == 's' || ch == 'z')
				z->k++;
		} else {
			z->j = z->k;
			if (measure(z) == 1 && cvc(z, z->k))
				setto(z, "e");
		}
	}
}

/* Step 1c: a final y becomes i when there is another vowel in the stem. */
static void step1c(struct stem *z)
{
	if (ends(z, "y") && vowel_in_stem(z))
		z->b[z->k] = 'i';
}

/* Step 2: double suffixes to single ones, when m > 0. */
static void step2(struct stem *z)
{
	if (z->k < 1)
		return;
	switch (z->b[z->k - 1]) {
	case 'a':
		if (ends(z, "ational")) { r(z, "ate"); break; }
		if (ends(z, "tional")) { r(z, "tion"); break; }
		break;
	case 'c':
		if (ends(z, "enci")) { r(z, "ence"); break; }
		if (ends(z, "anci")) { r(z, "ance"); break; }
		break;
	case 'e':
		if (ends(z, "izer")) { r(z, "ize"); break; }
		break;
	case 'l':
		if (ends(z, "bli")) { r(z, "ble"); break; }
		if (ends(z, "alli")) { r(z, "al"); break; }
		if (ends(z, "entli")) { r(z, "ent"); break; }
		if (ends(z, "eli")) { r(z, "e"); break; }
		if (ends(z, "ousli")) { r(z, "ous"); break; }
		break;
	case 'o':
		if (ends(z, "ization")) { r(z, "ize"); break; }
		if (ends(z, "ation")) { r(z, "ate"); break; }
		if (ends(z, "ator")) { r(z, "ate"); break; }
		break;
	case 's':
		if (ends(z, "alism")) { r(z, "al"); break; }
		if (ends(z, "iveness")) { r(z, "ive"); break; }
		if (ends(z, "fulness")) { r(z, "ful"); break; }
		if (ends(z, "ousness")) { r(z, "ous"); break; }
		break;
	case 't':
		if (ends(z, "aliti")) { r(z, "al"); break; }
		if (ends(z, "iviti")) { r(z, "ive"); break; }
		if (ends(z, "biliti")) { r(z, "ble"); break; }
		break;
	case 'g':
		if (ends(z, "logi")) { r(z, "log"); break; }
		break;
	}
}

/* Step 3: -ic-, -full, -ness etc. */
static void step3(struct stem *z)
{
	switch (z->b[z->k]) {
	case 'e':
		if (ends(z, "icate")) { r(z, "ic"); break; }
		if (ends(z, "ative")) { r(z, ""); break; }
		if (ends(z, "alize")) { r(z, "al"); break; }
		break;
	case 'i':
		if (ends(z, "iciti")) { r(z, "ic"); break; }
		break;
	case 'l':
		if (ends(z, "ical")) { r(z, "ic"); break; }
		if (ends(z, "ful")) { r(z, ""); break; }
		break;
	case 's':
		if (ends(z, "ness")) { r(z, ""); break; }
		break;
	}
}

/* Step 4: drop -ant, -ence etc. when m > 1. */
static void step4(struct stem *z)
{
	if (z->k < 1)
		return;
	switch (z->b[z->k - 1]) {
	case 'a':
		if (ends(z, "al")) break;
		return;
	case 'c':
		if (ends(z, "ance")) break;
		if (ends(z, "ence")) break;
		return;
	case 'e':
		if (ends(z, "er")) break;
		return;
	case 'i':
		if (ends(z, "ic")) break;
		return;
	case 'l':
		if (ends(z, "able")) break;
		if (ends(z, "ible")) break;
		return;
	case 'n':
		if (ends(z, "ant")) break;
		if (ends(z, "ement")) break;
		if (ends(z, "ment")) break;
		if (ends(z, "ent")) break;
		return;
	case 'o':
		if (ends(z, "ion") && z->j >= 0 && (z->b[z->j] == 's' || z->b[z->j] == 't')) break;
		if (ends(z, "ou")) break;
		return;
	case 's':
		if (ends(z, "ism")) break;
		return;
	case 't':
		if (ends(z, "ate")) break;
		if (ends(z, "iti")) break;
		return;
	case 'u':
		if (ends(z, "ous")) break;
		return;
	case 'v':
		if (ends(z, "ive")) break;
		return;
	case 'z':
		if (ends(z, "ize")) break;
		return;
	default:
		return;
	}
	if (measure(z) > 1)
		z->k = z->j;
}

/* Step 5: drop a final -e when m > 1 (or m = 1 and not *o), and -ll to -l when m > 1. */
static void step5(struct stem *z)
{
	z->j = z->k;
	if (z->b[z->k] == 'e') {
		int a = measure(z);
		if (a > 1 || (a == 1 && !cvc(z, z->k - 1)))
			z->k--;
	}
	if (z->b[z->k] == 'l' && doublec(z, z->k) && measure(z) > 1)
		z->k--;
}

size_t rag_porter_stem(char *w, size_t n)
{
	struct stem z;
	size_t i;

	if (n <= 2 || n > 1000)
		return n;
	for (i = 0; i < n; i++)
		if (w[i] < 'a' || w[i] > 'z')
			return n;
	z.b = w;
	z.k = (int)n - 1;
	z.j = 0;
	step1ab(&z);
	if (z.k > 0) {
		step1c(&z);
		step2(&z);
		step3(&z);
		step4(&z);
		step5(&z);
	}
	return (size_t)z.k + 1;
}
