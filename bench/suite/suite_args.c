/*
 * suite_args.c - the command line of reel-bench, parsed into a struct and
 * never exiting, so that the test of the runner can check it.
 */
#include "suite.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

int suite_parse_args(int argc, char **argv, struct suite_opts *o, char *err, size_t errlen)
{
	static const struct option longopts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "only", required_argument, NULL, 'o' },
		{ "csv", required_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'd' },
		{ "no-python", no_argument, NULL, 'n' },
		{ "report-only", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
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
