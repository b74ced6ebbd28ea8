/*
 * route.c - the route table: method + path pattern -> handler.
 *
 * A pattern is a list of segments, each a literal ("users"), a parameter
 * ("{id}": any one non-empty segment) or, last only, a rest parameter
 * ("{path...}": the rest of the path, slashes included). Matching is on
 * the percent-decoded path, segment by segment. When several routes match,
 * the one with a literal at the first position where they differ wins
 * (so "/users/me" beats "/users/{id}" whatever the order they were added
 * in), then the earlier route: the same rule as Go 1.22's ServeMux in its
 * simplest form. A table of a few dozen routes is scanned linearly: for
 * the handful most servers have, a scan of short strings costs less than
 * walking a tree.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define MAX_SEGMENTS 32

enum seg_kind { SEG_LITERAL, SEG_PARAM, SEG_REST };

struct segment {
	enum seg_kind kind;
	char *text;                /* the literal, or the parameter's name */
	size_t len;
};

struct reel_http__route {
	char *method;              /* NULL: any method */
	char *pattern;
	struct segment seg[MAX_SEGMENTS];
	unsigned nseg;
	reel_http_handler fn;
	void *arg;
};

static void route_free(struct reel_http__route *r)
{
	for (unsigned i = 0; i < r->nseg; i++)
		free(r->seg[i].text);
	free(r->method);
	free(r->pattern);
}

static int parse_segment(struct segment *s, const char *p, size_t n, bool last)
{
	if (n >= 2 && p[0] == '{' && p[n - 1] == '}') {
		p++;
		n -= 2;
		s->kind = SEG_PARAM;
		if (n > 3 && memcmp(p + n - 3, "...", 3) == 0) {
			if (!last)
				return -EINVAL;
			s->kind = SEG_REST;
			n -= 3;
		}
		if (!n || memchr(p, '{', n) || memchr(p, '}', n) || memchr(p, '/', n))
			return -EINVAL;
	} else {
		if (memchr(p, '{', n) || memchr(p, '}', n))
			return -EINVAL;
		s->kind = SEG_LITERAL;
	}
	s->text = strndup(p, n);
	s->len = n;
	return s->text ? 0 : -ENOMEM;
}

static int parse_pattern(struct reel_http__route *r, const char *pattern)
{
	const char *p = pattern + 1;

	if (!*p)
		return 0;   /* "/" has no segments */
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		int err;

		if (r->nseg == MAX_SEGMENTS)
			return -EINVAL;
		err = parse_segment(&r->seg[r->nseg], p, n, !slash);
		if (err)
			return err;
		r->nseg++;
		if (!slash)
			return 0;
		p = slash + 1;
	}
}

static bool same_route(const struct reel_http__route *r, const char *method, const char *pattern)
{
	if (strcmp(r->pattern, pattern) != 0)
		return false;
	return (!r->method && !method) || (r->method && method && strcmp(r->method, method) == 0);
}

int reel_http__route_add(struct reel_http__routes *rt, const char *method, const char *pattern,
			 reel_http_handler fn, void *arg)
{
	struct reel_http__route *r;
	int err;

	if (!pattern || pattern[0] != '/' || !fn)
		return -EINVAL;
	if (method && (strlen(method) > 32 || !reel_http__token(method)))
		return -EINVAL;
	for (size_t i = 0; i < rt->n; i++)
		if (same_route(&rt->v[i], method, pattern))
			return -EEXIST;
	if (rt->n == rt->cap) {
		size_t cap = rt->cap ? rt->cap * 2 : 8;
		struct reel_http__route *v = realloc(rt->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		rt->v = v;
		rt->cap = cap;
	}
	r = &rt->v[rt->n];
	*r = (struct reel_http__route){ .fn = fn, .arg = arg };
	r->pattern = strdup(pattern);
	r->method = method ? strdup(method) : NULL;
	err = (!r->pattern || (method && !r->method)) ? -ENOMEM : parse_pattern(r, pattern);
	if (err) {
		route_free(r);
		return err;
	}
	rt->n++;
	return 0;
}

void reel_http__routes_free(struct reel_http__routes *rt)
{
	for (size_t i = 0; i < rt->n; i++)
		route_free(&rt->v[i]);
	free(rt->v);
	*rt = (struct reel_http__routes){ NULL, 0, 0 };
}

struct pathseg {
	const char *p;
	size_t len;
};

/* Split "/a/b" into its segments; -1 when there are too many. */
static int split(const char *path, struct pathseg *out)
{
	int n = 0;
	const char *p = path + (*path == '/');

	if (!*p)
		return 0;
	for (;;) {
		const char *slash = strchr(p, '/');

		if (n == MAX_SEGMENTS)
			return -1;
		out[n].p = p;
		out[n].len = slash ? (size_t)(slash - p) : strlen(p);
		n++;
		if (!slash)
			return n;
		p = slash + 1;
	}
}

/* The route's score for these segments (0: no match); literals at earlier
 * positions weigh more, so comparing scores is comparing position by
 * position. */
static uint64_t score(const struct reel_http__route *r, const struct pathseg *s, int n)
{
	uint64_t sc = 1;

	for (unsigned i = 0; i < r->nseg; i++) {
		const struct segment *g = &r->seg[i];

		if (g->kind == SEG_REST)
			return (int)i < n ? sc : 0;   /* at least one segment */
		if ((int)i >= n)
			return 0;
		if (g->kind == SEG_LITERAL) {
			if (s[i].len != g->len || memcmp(s[i].p, g->text, g->len) != 0)
				return 0;
			sc |= 1ull << (62 - i);
		} else if (!s[i].len) {
			return 0;
		}
	}
	return (int)r->nseg == n ? sc : 0;
}

static bool method_is(const struct reel_http__route *r, const char *method)
{
	return !r->method || strcmp(r->method, method) == 0;
}

static void allow_add(struct reel_http__match *m, const char *method)
{
	size_t len = strlen(m->allow), n = strlen(method);

	if (strstr(m->allow, method) || len + n + 3 > sizeof(m->allow))
		return;
	if (len)
		memcpy(m->allow + len, ", ", 2), len += 2;
	memcpy(m->allow + len, method, n + 1);
}

static const struct reel_http__route *best(const struct reel_http__routes *rt, const char *method,
					   const struct pathseg *s, int n,
					   struct reel_http__match *m)
{
	const struct reel_http__route *win = NULL;
	uint64_t top = 0;

	for (size_t i = 0; i < rt->n; i++) {
		const struct reel_http__route *r = &rt->v[i];
		uint64_t sc = score(r, s, n);

		if (!sc)
			continue;
		m->path_matched = true;
		if (r->method) {
			allow_add(m, r->method);
			if (strcmp(r->method, "GET") == 0)
				allow_add(m, "HEAD");
		}
		if (method_is(r, method) && sc > top) {
			top = sc;
			win = r;
		}
	}
	return win;
}

/* Cut the winner's parameters out of @path (NUL after each). */
static void take_params(const struct reel_http__route *r, char *path, struct pathseg *s,
			struct reel_http__match *m)
{
	m->nparams = 0;
	for (unsigned i = 0; i < r->nseg && m->nparams < REEL_HTTP__MAX_PARAMS; i++) {
		const struct segment *g = &r->seg[i];
		char *v = path + (s[i].p - path);

		if (g->kind == SEG_LITERAL)
			continue;
		m->param_name[m->nparams] = g->text;
		m->param_value[m->nparams++] = v;
		if (g->kind == SEG_PARAM)
			v[s[i].len] = '\0';
	}
}

bool reel_http__route_match(const struct reel_http__routes *rt, const char *method, char *path,
			    struct reel_http__match *m)
{
	struct pathseg s[MAX_SEGMENTS];
	int n = split(path, s);
	const struct reel_http__route *r;

	m->route = NULL;
	m->fn = NULL;
	m->nparams = 0;
	m->allow[0] = '\0';
	m->path_matched = false;
	if (n < 0)
		return false;
	r = best(rt, method, s, n, m);
	if (!r && strcmp(method, "HEAD") == 0)
		r = best(rt, "GET", s, n, m);
	if (!r)
		return false;
	m->route = r;
	m->fn = r->fn;
	m->arg = r->arg;
	take_params(r, path, s, m);
	return true;
}
