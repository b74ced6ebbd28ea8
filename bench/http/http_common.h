/*
 * http_common.h - what the HTTP benchmark's C programs share (the load
 * generator http_load, the raw liburing floor http_floor and reel's server
 * reel_server): the bodies every server answers with, byte for byte, so
 * that http_load can check each response it counts. node_server.js,
 * fastapi_app.py and the nginx configuration (bench/http/http.c) spell the
 * same bytes.
 *
 *   GET /hello   200 text/plain, "hello, world\n" (Content-Length)
 *   GET /stream  200 text/plain, chunked: "chunk 0\n" ... "chunk 9\n", one
 *                chunk every HTTP_STREAM_GAP_MS (the first at once)
 *   GET /sse     200 text/event-stream: "data: tick N\n\n" every second
 *                until the client leaves (reel and the floor only)
 *
 * The servers print "listening on 127.0.0.1:PORT" as the echo servers do
 * (echo_common.h, whose helpers they use); the peers (nginx, node, uvicorn)
 * do not, so reel-bench gives every server its port and probes it.
 */
#ifndef REEL_HTTP_COMMON_H
#define REEL_HTTP_COMMON_H

#include "echo_common.h"

#define HTTP_HELLO_BODY "hello, world\n"
#define HTTP_STREAM_CHUNKS 10
#define HTTP_STREAM_GAP_MS 20
#define HTTP_SSE_PERIOD_MS 1000

/* "chunk N\n" for N in 0..9: the body of /stream is their concatenation. */
static inline int http_stream_chunk(char *buf, size_t len, unsigned i)
{
	return snprintf(buf, len, "chunk %u\n", i);
}

#endif /* REEL_HTTP_COMMON_H */
