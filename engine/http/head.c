/*
 * head.c - the small pieces every answer is made of: reason phrases, the
 * Date field, byte buffers with their own integer formatting, and percent-
 * decoding.
 *
 * Date has one-second resolution and is mandatory on 2xx-4xx answers (RFC
 * 9110 §6.6.1), so it is formatted once per second per thread, as nginx does
 * (ngx_time_update), with our own day and month names: strftime's follow the
 * locale. The clock read is CLOCK_REALTIME_COARSE, a vDSO read of a kernel
 * variable, never a system call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"

const char *reel_http__reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

static __thread struct {
	time_t sec;
	char line[REEL_HTTP__DATE_LINE_LEN + 1];
} date_cache = { -1, "" };

static void two(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

static void format_date(time_t t, char *line)
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm;

	gmtime_r(&t, &tm);
	memcpy(line, "Date: ", 6);
	memcpy(line + 6, days + 3 * tm.tm_wday, 3);
	memcpy(line + 9, ", ", 2);
	two(line + 11, tm.tm_mday);
	line[13] = ' ';
	memcpy(line + 14, months + 3 * tm.tm_mon, 3);
	line[17] = ' ';
	two(line + 18, (tm.tm_year + 1900) / 100);
	two(line + 20, (tm.tm_year + 1900) % 100);
	line[22] = ' ';
	two(line + 23, tm.tm_hour);
	line[25] = ':';
	two(line + 26, tm.tm_min);
	line[28] = ':';
	two(line + 29, tm.tm_sec);
	memcpy(line + 31, " GMT\r\n", 6);
	line[37] = '\0';
}

const char *reel_http__date_line(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	if (ts.tv_sec != date_cache.sec) {
		format_date(ts.tv_sec, date_cache.line);
		date_cache.sec = ts.tv_sec;
	}
	return date_cache.line;
}

/* ---- byte buffers ------------------------------------------------------------------- */

int reel_http__buf_reserve(struct reel_http__buf *b, size_t more)
{
	size_t cap;
	char *d;

	if (b->cap - b->len >= more)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap - b->len < more)
		cap *= 2;
	d = realloc(b->data, cap);
	if (!d)
		return -ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

int reel_http__buf_put(struct reel_http__buf *b, const void *p, size_t n)
{
	int r = reel_http__buf_reserve(b, n);

	if (r)
		return r;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int reel_http__buf_puts(struct reel_http__buf *b, const char *s)
{
	return reel_http__buf_put(b, s, strlen(s));
}

int reel_http__buf_put_max(struct reel_http__buf *b, const void *p, size_t n, size_t limit)
{
	int r;

	if (n > limit || b->len > limit - n)
		return -EMSGSIZE;
	r = reel_http__buf_reserve(b, n + 1);
	if (r)
		return r;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static int put_digits(struct reel_http__buf *b, uint64_t v, unsigned base)
{
	static const char digit[] = "0123456789abcdef";
	char tmp[24];
	int i = (int)sizeof(tmp);

	do {
		tmp[--i] = digit[v % base];
		v /= base;
	} while (v);
	return reel_http__buf_put(b, tmp + i, sizeof(tmp) - (size_t)i);
}

int reel_http__buf_putu(struct reel_http__buf *b, uint64_t v)
{
	return put_digits(b, v, 10);
}

int reel_http__buf_putx(struct reel_http__buf *b, uint64_t v)
{
	return put_digits(b, v, 16);
}

void reel_http__buf_free(struct reel_http__buf *b)
{
	free(b->data);
	*b = (struct reel_http__buf){ NULL, 0, 0 };
}

/* ---- percent-decoding ---------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ssize_t reel_http__decode(const char *s, size_t n, char *out, bool plus)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi, lo;

			if (n - i < 3)
				return -EINVAL;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -EINVAL;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = plus && s[i] == '+' ? ' ' : s[i];
		}
	}
	out[o] = '\0';
	return (ssize_t)o;
}

/* ---- a request's arena ------------------------------------------------------------------------ */

#define ARENA_BLOCK 2048

struct extra_block {
	struct extra_block *next;
	char data[];
};

void *reel_http__arena_alloc(struct reel_http__arena *a, size_t n)
{
	struct extra_block *x;

	n = (n + 7) & ~(size_t)7;
	if (!a->block) {
		a->block = malloc(ARENA_BLOCK);
		if (!a->block)
			return NULL;
		a->cap = ARENA_BLOCK;
		a->used = 0;
	}
	if (a->cap - a->used >= n) {
		a->used += n;
		return a->block + a->used - n;
	}
	x = malloc(sizeof(*x) + n);
	if (!x)
		return NULL;
	x->next = a->extra;
	a->extra = x;
	return x->data;
}

char *reel_http__arena_strndup(struct reel_http__arena *a, const char *s, size_t n)
{
	char *p = reel_http__arena_alloc(a, n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

void reel_http__arena_reset(struct reel_http__arena *a)
{
	while (a->extra) {
		struct extra_block *x = a->extra;

		a->extra = x->next;
		free(x);
	}
	a->used = 0;
}

void reel_http__arena_free(struct reel_http__arena *a)
{
	reel_http__arena_reset(a);
	free(a->block);
	*a = (struct reel_http__arena){ NULL, 0, 0, NULL };
}
