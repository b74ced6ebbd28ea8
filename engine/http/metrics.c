/*
 * metrics.c - reel_http_metrics: the loop's counters and the server's own,
 * as Prometheus text (exposition format 0.0.4), at a path the user picks.
 *
 * Built on public calls alone (reel_loop_stats_prometheus,
 * reel_http_server_stats, reel_http_route, reel_http_respond): the handler
 * runs on a connection's fiber, so the loop it reports is the server's.
 * The text is a few kilobytes, made on the handler's stack; no state is
 * kept between scrapes (Prometheus computes rates from the totals).
 */
#include <errno.h>
#include <stdio.h>

#include <reel_http.h>
#include <reel_trace.h>

#define METRICS_MAX 4096

static int serve_metrics(struct reel_http_req *req, void *arg)
{
	const struct reel_http_server *srv = arg;
	struct reel_http_server_stats st;
	char text[METRICS_MAX];
	int n, m;

	n = reel_loop_stats_prometheus(text, sizeof(text));
	if (n < 0 || (size_t)n >= sizeof(text) || reel_http_server_stats(srv, &st) < 0)
		return n < 0 ? n : -EOVERFLOW;
	m = snprintf(text + n, sizeof(text) - (size_t)n,
		"# HELP reel_http_connections_total Connections accepted.\n"
		"# TYPE reel_http_connections_total counter\nreel_http_connections_total %llu\n"
		"# HELP reel_http_open_connections Connections open now.\n"
		"# TYPE reel_http_open_connections gauge\nreel_http_open_connections %llu\n"
		"# HELP reel_http_requests_total Requests whose handler ran.\n"
		"# TYPE reel_http_requests_total counter\nreel_http_requests_total %llu\n"
		"# HELP reel_http_rejected_total Requests the server answered 4xx/5xx itself.\n"
		"# TYPE reel_http_rejected_total counter\nreel_http_rejected_total %llu\n"
		"# HELP reel_http_timeouts_total Connections dropped by a timeout.\n"
		"# TYPE reel_http_timeouts_total counter\nreel_http_timeouts_total %llu\n"
		"# HELP reel_http_idle_reaped_total Idle connections closed to make room or at shutdown.\n"
		"# TYPE reel_http_idle_reaped_total counter\nreel_http_idle_reaped_total %llu\n"
		"# HELP reel_http_peer_gone_total Handlers cancelled because the client left.\n"
		"# TYPE reel_http_peer_gone_total counter\nreel_http_peer_gone_total %llu\n",
		(unsigned long long)st.connections, (unsigned long long)st.open,
		(unsigned long long)st.requests, (unsigned long long)st.rejected,
		(unsigned long long)st.timeouts, (unsigned long long)st.idle_reaped,
		(unsigned long long)st.peer_gone);
	if (m < 0 || (size_t)m >= sizeof(text) - (size_t)n)
		return -EOVERFLOW;
	return reel_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", text,
				 (size_t)(n + m));
}

int reel_http_metrics(struct reel_http_server *srv, const char *path)
{
	if (!srv || !path)
		return -EINVAL;
	return reel_http_route(srv, "GET", path, serve_metrics, srv);
}
