/*
 * table.c - the result table of the micro-benchmarks and the echo benchmark
 * (reel beside its baseline, one row per measurement) on stdout, the notes
 * under it and its CSV copy (micro.csv). The headline comparison has its own
 * CSV and report (bench/suite/).
 *
 * Rows are printed as soon as they are measured, so a run that is stopped
 * half way still shows what it had; notes wait for the end of the table,
 * which they would otherwise cut; the CSV is written once at the end from
 * the rows kept here.
 */
#include "bench.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A reported row, copied: the series it points to live on callers' stacks. */
struct kept_row {
	char bench[16];
	char name[96];
	char unit[8];
	char base_name[48];
	char goal[64];
	const char *result;
	double reel[3], base[3];        /* median, min, max */
	double ratio;
	unsigned reps;
};

#define MAX_KEPT 128
static struct kept_row kept[MAX_KEPT];
static unsigned nkept;

/* ---- statistics ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* @out: median, min, max of @s. */
static void summarize(const struct bench_series *s, double out[3])
{
	double v[BENCH_MAX_REPS];
	unsigned n = s->n;

	if (n == 0) {
		out[0] = out[1] = out[2] = NAN;
		return;
	}
	memcpy(v, s->v, n * sizeof(v[0]));
	qsort(v, n, sizeof(v[0]), cmp_double);
	out[0] = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	out[1] = v[0];
	out[2] = v[n - 1];
}

/* ---- the table ---- */

/* Digits enough to tell two values of about @v apart, not more. */
static const char *fmt_num(char *buf, size_t len, double v)
{
	int prec = v < 1 ? 3 : v < 10 ? 2 : v < 100 ? 1 : 0;

	if (v == (double)(long long)v && v >= 10)
		prec = 0;       /* counts: 67 lines, not 67.0 */

	if (isnan(v))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.*f", prec, v);
	return buf;
}

static void fmt_cell(char *buf, size_t len, const double st[3], const char unit[8])
{
	char a[32], b[32], c[32];

	snprintf(buf, len, "%s %.7s (%s-%s)", fmt_num(a, sizeof(a), st[0]), unit,
		 fmt_num(b, sizeof(b), st[1]), fmt_num(c, sizeof(c), st[2]));
}

static void fmt_goal(char *buf, size_t len, const struct bench_row *row,
		     const char unit[8])
{
	char g[32];

	fmt_num(g, sizeof(g), row->goal_value);
	switch (row->goal) {
	case BENCH_RATIO_LE:
		snprintf(buf, len, "reel/base <= %s", g);
		break;
	case BENCH_RATIO_GE:
		snprintf(buf, len, "reel/base >= %s", g);
		break;
	case BENCH_SPEEDUP_GE:
		snprintf(buf, len, "base/reel >= %s", g);
		break;
	case BENCH_ABS_LE:
		snprintf(buf, len, "reel <= %s %.7s", g, unit);
		break;
	case BENCH_BELOW_BASE:
		snprintf(buf, len, "reel < base");
		break;
	default:
		snprintf(buf, len, "-");
	}
}

static const char *judge(const struct bench_row *row, const double r[3],
			 const double b[3], double ratio)
{
	switch (row->goal) {
	case BENCH_RATIO_LE:
		return ratio <= row->goal_value ? "pass" : "FAIL";
	case BENCH_RATIO_GE:
		return ratio >= row->goal_value ? "pass" : "FAIL";
	case BENCH_SPEEDUP_GE:
		return ratio >= row->goal_value ? "pass" : "FAIL";
	case BENCH_ABS_LE:
		return r[0] <= row->goal_value ? "pass" : "FAIL";
	case BENCH_BELOW_BASE:
		/* A limit: the worst repetition must stay under it. */
		return r[2] < b[1] ? "pass" : "FAIL";
	default:
		return "-";
	}
}

#define ROW_FMT "| %-46s | %-30s | %-28s | %-30s | %7s | %-20s | %-4s |\n"

void bench_table_header(void)
{
	printf(ROW_FMT, "benchmark", "reel median (min-max)", "baseline",
	       "baseline median (min-max)", "ratio", "goal", "ok");
	printf("|%.48s|%.32s|%.30s|%.32s|%.9s|%.22s|%.6s|\n",
	       "------------------------------------------------",
	       "--------------------------------", "------------------------------",
	       "--------------------------------", "---------",
	       "----------------------", "------");
	fflush(stdout);
}

void bench_report(const char *bench, const struct bench_row *row)
{
	struct kept_row *k = &kept[nkept < MAX_KEPT ? nkept++ : MAX_KEPT - 1];
	char rc[128], bc[128], rt[32], unit[8];

	summarize(row->reel, k->reel);
	summarize(row->base, k->base);
	k->ratio = row->goal == BENCH_SPEEDUP_GE ? k->base[0] / k->reel[0]
						 : k->reel[0] / k->base[0];
	k->result = judge(row, k->reel, k->base, k->ratio);
	k->reps = row->reel->n;
	snprintf(unit, sizeof(unit), "%s", row->unit);
	snprintf(k->bench, sizeof(k->bench), "%s", bench);
	snprintf(k->name, sizeof(k->name), "%s", row->name);
	snprintf(k->base_name, sizeof(k->base_name), "%s", row->base_name);
	memcpy(k->unit, unit, sizeof(unit));
	fmt_goal(rc, sizeof(k->goal), row, unit);
	memcpy(k->goal, rc, sizeof(k->goal));

	fmt_cell(rc, sizeof(rc), k->reel, unit);
	fmt_cell(bc, sizeof(bc), k->base, unit);
	fmt_num(rt, sizeof(rt) - 1, k->ratio);
	strcat(rt, "x");
	printf(ROW_FMT, row->name, rc, row->base_name, bc, rt, k->goal, k->result);
	fflush(stdout);
}

static char notes[32][200];
static unsigned nnotes;

void bench_note(const char *fmt, ...)
{
	va_list ap;

	if (nnotes == 32)
		return;
	va_start(ap, fmt);
	vsnprintf(notes[nnotes++], sizeof(notes[0]), fmt, ap);
	va_end(ap);
}

static char appendix[96][384];
static unsigned nappendix;

void bench_appendix(const char *fmt, ...)
{
	va_list ap;

	if (nappendix == 96)
		return;
	va_start(ap, fmt);
	vsnprintf(appendix[nappendix++], sizeof(appendix[0]), fmt, ap);
	va_end(ap);
}

void bench_print_notes(void)
{
	if (nnotes)
		putchar('\n');
	for (unsigned i = 0; i < nnotes; i++)
		printf("- %s\n", notes[i]);
	if (nappendix)
		putchar('\n');
	for (unsigned i = 0; i < nappendix; i++)
		printf("%s\n", appendix[i]);
	fflush(stdout);
}

/* ---- the CSV ---- */

/* mkdir -p of the folders above @path. */
static int make_parents(const char *path)
{
	char dir[4096];

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0777) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

/* Names may hold commas: quote every text field, doubling its quotes. */
static void csv_text(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputs("\",", f);
}

int bench_write_csv(const char *path, const struct bench_cfg *cfg)
{
	FILE *f;
	int err = make_parents(path);

	if (err < 0)
		return err;
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fputs("bench,name,unit,reel_median,reel_min,reel_max,baseline,"
	      "baseline_median,baseline_min,baseline_max,ratio,goal,result,"
	      "reps,mode\n", f);
	for (unsigned i = 0; i < nkept; i++) {
		const struct kept_row *k = &kept[i];

		csv_text(f, k->bench);
		csv_text(f, k->name);
		csv_text(f, k->unit);
		fprintf(f, "%.6g,%.6g,%.6g,", k->reel[0], k->reel[1], k->reel[2]);
		csv_text(f, k->base_name);
		fprintf(f, "%.6g,%.6g,%.6g,%.6g,", k->base[0], k->base[1],
			k->base[2], k->ratio);
		csv_text(f, k->goal);
		csv_text(f, k->result);
		fprintf(f, "%u,%s\n", k->reps, cfg->quick ? "quick" : "full");
	}
	if (fclose(f) != 0)
		return -errno;
	return 0;
}
