/*
 * suite_args.c - the command line of reel-bench, parsed into a struct and
 * never exiting, so that the test of the runner can check it.
 */
#include "suite.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A whole number in [@lo, @hi] into *@v. Returns 0 or -EINVAL. */
static int parse_count(const char *s, unsigned lo, unsigned hi, unsigned *v)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || n < lo || n > hi)
		return -EINVAL;
	*v = (unsigned)n;
	return 0;
}

int suite_parse_args(int argc, char **argv, struct suite_opts *o, char *err, size_t errlen)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "only", required_argument, NULL, 'o' },
		{ "csv", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'd' },
		{ "no-python", no_argument, NULL, 'n' },
		{ "report-only", no_argument, NULL, 'r' },
		{ "soak-seconds", required_argument, NULL, 'S' },
		{ "soak-conns", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->soak_seconds = 600;
	o->soak_conns = 500;
	o->python = true;
	o->out = "results";
	err[0] = '\0';
	optind = 0;     /* glibc: start over, so a second parse works */
	opterr = 0;     /* the reason goes to @err, not to stderr */
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			o->quick = true;
			break;
		case 'o':
			o->only = optarg;
			break;
		case 'c':
			o->csv = optarg;
			break;
		case 'd':
			o->out = optarg;
			break;
		case 'n':
			o->python = false;
			break;
		case 'r':
			o->report_only = true;
			break;
		case 'S':
			if (parse_count(optarg, 5, 86400, &o->soak_seconds) < 0) {
				snprintf(err, errlen, "--soak-seconds wants 5 to 86400, not '%s'",
					 optarg);
				return -EINVAL;
			}
			break;
		case 'C':
			if (parse_count(optarg, 10, 20000, &o->soak_conns) < 0) {
				snprintf(err, errlen, "--soak-conns wants 10 to 20000, not '%s'",
					 optarg);
				return -EINVAL;
			}
			break;
		case 'h':
			return 1;
		case ':':
			snprintf(err, errlen, "%s needs an argument", argv[optind - 1]);
			return -EINVAL;
		default:
			snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (!o->out[0] || (o->only && !o->only[0])) {
		snprintf(err, errlen, "%s cannot be empty", o->out[0] ? "--only" : "--out");
		return -EINVAL;
	}
	if (!o->csv) {
		if (snprintf(o->csv_buf, sizeof(o->csv_buf), "%s/micro.csv", o->out) >=
		    (int)sizeof(o->csv_buf)) {
			snprintf(err, errlen, "--out is too long");
			return -EINVAL;
		}
		o->csv = o->csv_buf;
	}
	return 0;
}
