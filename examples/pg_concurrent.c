/*
 * pg_concurrent - query a database and call an API at the same time: a real
 * PostgreSQL server through libpq's asynchronous API, each wait a reel_poll
 * of a fiber (asyncio's "await conn.fetch(...)" next to "await
 * client.get(...)"). docs/integrating.md explains the pattern.
 *
 * Usage: pg_concurrent [CONNINFO]
 *        CONNINFO as libpq takes it ("host=/tmp dbname=postgres", a
 *        postgresql:// URI); without it, the PG* environment variables.
 *
 * In order:
 *  1. connect without blocking the loop: PQconnectStart, then PQconnectPoll
 *     each time reel_poll says the socket is ready the way libpq asked;
 *  2. SELECT pg_sleep(0.3), 42 and an "API call" - a GET, with the reel HTTP
 *     client, to a small reel HTTP server in this program that answers after
 *     300 ms - run as two tasks under reel_gather: about 300 ms for both,
 *     not 600;
 *  3. SELECT pg_sleep(10) under a 200 ms deadline (reel_wait_for): the wait
 *     ends at the deadline, but the server still runs the query, so it is
 *     cancelled there (PQcancel, which blocks on a connection of its own,
 *     runs on the thread pool through reel_to_thread), the server's
 *     "canceling statement" error is read off the connection, and the same
 *     connection answers the next query;
 *  4. LISTEN on a second connection, a listener fiber parked in reel_poll on
 *     it, a NOTIFY from the first: the listener hears it. Then the second
 *     connection is closed while the listener still polls its socket:
 *     reel_cancel_fd first (it wakes the listener with -EBADF and lets the
 *     kernel drop its hold on the socket), then PQfinish, which close(2)s.
 * Exit status 0 when everything happened as described; 1, with a message,
 * when anything did not.
 *
 * PQconnectStart resolves a host name with a blocking getaddrinfo: this
 * program is meant for a Unix socket or a numeric address (hostaddr=).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "example.h"
#include "reel_http.h"
#include "reel_io.h"
#include "reel_offload.h"
#include "reel_sync.h"

/* libpq's calls, OpenSSL's under them, and stdio want more than the
 * default 64 KiB of stack; it is committed lazily, so this costs little. */
#define PG_STACK (512 * 1024)

static const char *conninfo = "";

/* ---- libpq on reel_poll ------------------------------------------------------ */

/* libpq failed: say what it said, and return @err. */
static int pg_fail(PGconn *conn, const char *what, int err)
{
	fprintf(stderr, "pg_concurrent: %s: %s", what, PQerrorMessage(conn));
	return err;
}

/* Park until libpq's socket is ready for @events. The socket is read afresh
 * each time: libpq may replace it while connecting (another address). */
static int wait_socket(PGconn *conn, short events)
{
	int fd = PQsocket(conn);
	int r;

	if (fd < 0)
		return -ENOTCONN;
	r = reel_poll(fd, events);
	return r < 0 ? r : 0;
}

/* Connect with PQconnectStart / PQconnectPoll: libpq says whether it waits
 * to read or to write, reel_poll waits for that, PQconnectPoll goes on. */
static int pg_connect(PGconn **out)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	PGconn *conn = PQconnectStart(conninfo);
	int err = 0;

	if (!conn)
		return -ENOMEM;
	if (PQstatus(conn) == CONNECTION_BAD)
		st = PGRES_POLLING_FAILED;
	while (st != PGRES_POLLING_OK && !err) {
		if (st == PGRES_POLLING_FAILED)
			err = pg_fail(conn, "connect", -ECONNREFUSED);
		else if ((err = wait_socket(conn, st == PGRES_POLLING_READING ? POLLIN
									   : POLLOUT)) == 0)
			st = PQconnectPoll(conn);
	}
	/* From now on PQsendQuery and PQflush never block on a full socket. */
	if (!err && PQsetnonblocking(conn, 1) != 0)
		err = pg_fail(conn, "PQsetnonblocking", -EIO);
	if (err) {
		PQfinish(conn);   /* nothing polls its socket now */
		return err;
	}
	*out = conn;
	return 0;
}

/* Send @sql. In nonblocking mode PQsendQuery may leave part of it in
 * libpq's buffer: PQflush until it says 0. While it says 1, wait for the
 * socket to be writable *or readable* - the server may be waiting for us
 * to read before it reads more - and consume what came in. */
static int pg_send(PGconn *conn, const char *sql)
{
	int r;

	if (!PQsendQuery(conn, sql))
		return pg_fail(conn, "PQsendQuery", -EIO);
	while ((r = PQflush(conn)) == 1) {
		int ev = reel_poll(PQsocket(conn), POLLIN | POLLOUT);

		if (ev < 0)
			return ev;
		if ((ev & POLLIN) && !PQconsumeInput(conn))
			return pg_fail(conn, "PQconsumeInput", -EIO);
	}
	return r == 0 ? 0 : pg_fail(conn, "PQflush", -EIO);
}

/*
 * Read the results of the query sent last, until PQgetResult says NULL
 * (the connection is then ready for the next one), keeping the last result
 * in *@res (the caller PQclears it). PQgetResult would block while PQisBusy,
 * so: wait for input, PQconsumeInput, ask again. Interrupted (a deadline,
 * a cancel), it returns the interruption with the connection still busy:
 * the caller must cancel the query on the server and call this again.
 */
static int pg_results(PGconn *conn, PGresult **res)
{
	PGresult *r;
	int err;

	*res = NULL;
	for (;;) {
		while (PQisBusy(conn)) {
			if ((err = wait_socket(conn, POLLIN)) < 0)
				goto fail;
			if (!PQconsumeInput(conn)) {
				err = pg_fail(conn, "PQconsumeInput", -EIO);
				goto fail;
			}
		}
		if (!(r = PQgetResult(conn)))
			return *res ? 0 : -EPROTO;
		PQclear(*res);
		*res = r;
	}
fail:
	PQclear(*res);
	*res = NULL;
	return err;
}

/* One query whose result must be rows (or a command's OK). */
static int pg_query(PGconn *conn, const char *sql, PGresult **res)
{
	ExecStatusType st;
	int err;

	if ((err = pg_send(conn, sql)) < 0 || (err = pg_results(conn, res)) < 0)
		return err;
	st = PQresultStatus(*res);
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return 0;
	fprintf(stderr, "pg_concurrent: %s: %s", sql, PQresultErrorMessage(*res));
	PQclear(*res);
	*res = NULL;
	return -EIO;
}

/* ---- cancelling a query on the server ---------------------------------------- */

struct cancel_job {
	PGcancel *cancel;
	char errbuf[256];
};

/* On a pool thread: PQcancel opens a connection of its own to the server,
 * sends the cancel request and waits for the server to close it. */
static int send_cancel(void *arg)
{
	struct cancel_job *j = arg;

	return PQcancel(j->cancel, j->errbuf, (int)sizeof(j->errbuf)) ? 0 : -ECONNREFUSED;
}

/* Ask the server to stop the query running on @conn. PQgetCancel reads the
 * connection, so it runs here, on the loop's thread; the blocking part goes
 * to the thread pool while the loop keeps running. */
static int pg_cancel_on_server(PGconn *conn)
{
	struct cancel_job j = { .cancel = PQgetCancel(conn) };
	int err, status;

	if (!j.cancel)
		return pg_fail(conn, "PQgetCancel", -ENOMEM);
	err = reel_to_thread(send_cancel, &j, &status);
	PQfreeCancel(j.cancel);   /* the job has ended or never started */
	if (!err && status < 0)
		fprintf(stderr, "pg_concurrent: PQcancel: %s\n", j.errbuf);
	return err < 0 ? err : status;
}

/* ---- the "API": a tiny HTTP server in this program ------------------------- */

struct api {
	struct reel_http_server *srv;
	int fd;
	reel_task task;
	char url[64];
};

/* GET /quote: thinks for 300 ms, as a remote API would. */
static int quote(struct reel_http_req *req, void *arg)
{
	static const char body[] = "{\"quote\": \"fibers are cheap\"}";
	int err;

	(void)arg;
	if ((err = reel_sleep(MSEC(300))) < 0)
		return err;
	return reel_http_respond(req, 200, "application/json", body, sizeof(body) - 1);
}

static int serve_api(void *arg)
{
	struct api *a = arg;

	return reel_http_serve(a->srv, a->fd);
}

static int api_start(struct api *a)
{
	static const struct reel_spawn_opts opts = { .name = "api server" };
	int err;

	if ((err = reel_http_server_create(&a->srv, NULL)) < 0)
		return err;
	if ((err = reel_http_route(a->srv, "GET", "/quote", quote, NULL)) < 0 ||
	    (err = a->fd = reel_listen_tcp("127.0.0.1", 0, 0)) < 0)
		goto destroy;
	snprintf(a->url, sizeof(a->url), "http://127.0.0.1:%d/quote", reel_local_port(a->fd));
	if ((err = reel_spawn(&a->task, serve_api, a, &opts)) < 0)
		goto close_fd;
	return 0;
close_fd:
	reel_close(a->fd);
destroy:
	reel_http_server_destroy(a->srv);
	return err;
}

static int api_stop(struct api *a)
{
	int status;

	reel_http_shutdown(a->srv);
	reel_join(a->task, &status);
	reel_close(a->fd);
	reel_http_server_destroy(a->srv);
	return status;
}

/* ---- 2. a query and an API call at once --------------------------------------- */

struct timed {
	uint64_t start, end;
};

struct db_call {
	PGconn *conn;
	struct timed t;
	char value[16];
};

static int db_call(void *arg)
{
	struct db_call *d = arg;
	PGresult *res;
	int err;

	d->t.start = reel_now();
	err = pg_query(d->conn, "SELECT pg_sleep(0.3), 42", &res);
	d->t.end = reel_now();
	if (err < 0)
		return err;
	if (PQntuples(res) == 1 && PQnfields(res) == 2)
		snprintf(d->value, sizeof(d->value), "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	return 0;
}

struct api_call {
	const char *url;
	struct timed t;
	char body[128];
};

static int api_call(void *arg)
{
	struct api_call *a = arg;
	struct reel_http_client *c;
	int err;

	if ((err = reel_http_client_create(&c, NULL)) < 0)
		return err;
	a->t.start = reel_now();
	err = reel_http_get(c, a->url, MSEC(5000), a->body, sizeof(a->body), NULL);
	a->t.end = reel_now();
	reel_http_client_destroy(c);
	return err;
}

/* Both ran at once when each started before the other ended. */
static bool overlapped(const struct timed *x, const struct timed *y)
{
	return x->start < y->end && y->start < x->end;
}

static int query_and_api(PGconn *conn, const char *url)
{
	static const struct reel_spawn_opts opts = { .stack_size = PG_STACK };
	struct db_call d = { .conn = conn };
	struct api_call a = { .url = url };
	reel_task t[2];
	int st[2], err;
	uint64_t t0 = reel_now();

	if ((err = reel_spawn(&t[0], db_call, &d, &opts)) < 0)
		return err;
	if ((err = reel_spawn(&t[1], api_call, &a, &opts)) < 0) {
		reel_cancel(t[0]);
		reel_join(t[0], NULL);
		return err;
	}
	if ((err = reel_gather(t, 2, st, 0)) < 0)
		return err;
	printf("query: SELECT pg_sleep(0.3), 42 -> %s in %.0f ms\n", d.value,
	       (double)(d.t.end - d.t.start) / 1e6);
	printf("api: GET %s -> %d %s in %.0f ms\n", url, st[1], a.body,
	       (double)(a.t.end - a.t.start) / 1e6);
	printf("together: %.0f ms for both (one after the other: 600+), %s\n",
	       ms_since(t0), overlapped(&d.t, &a.t) ? "overlapped" : "NOT overlapped");
	if (strcmp(d.value, "42") != 0 || st[1] != 200 || !overlapped(&d.t, &a.t))
		return -EPROTO;
	return 0;
}

/* ---- 3. a deadline, and the query cancelled on the server ------------------------ */

struct slow_query {
	PGconn *conn;
	PGresult *res;
};

static int run_slow_query(void *arg)
{
	struct slow_query *q = arg;

	return pg_query(q->conn, "SELECT pg_sleep(10)", &q->res);
}

/* The cancelled query's own result: the server's error, SQLSTATE 57014
 * (query_canceled). */
static int drain_cancelled(void *arg)
{
	struct slow_query *q = arg;
	const char *state;
	int err;

	if ((err = pg_results(q->conn, &q->res)) < 0)
		return err;
	state = PQresultErrorField(q->res, PG_DIAG_SQLSTATE);
	printf("cancelled on the server: %s %s", state ? state : "(no SQLSTATE)",
	       PQresultErrorMessage(q->res));
	return state && strcmp(state, "57014") == 0 ? 0 : -EPROTO;
}

static int deadline_and_cancel(PGconn *conn)
{
	struct slow_query q = { .conn = conn };
	PGresult *res;
	int r, status;
	uint64_t t0 = reel_now();

	r = reel_wait_for(MSEC(200), run_slow_query, &q, &status);
	printf("SELECT pg_sleep(10) under a 200 ms deadline: %s after %.0f ms\n",
	       r ? reel_strerror(r) : "finished (?)", ms_since(t0));
	PQclear(q.res);
	q.res = NULL;
	if (r != -ETIMEDOUT)
		return -EPROTO;
	/* The server knows nothing of our deadline: pg_sleep(10) goes on
	 * there, and the connection is busy with it, until it is cancelled. */
	t0 = reel_now();
	if ((r = pg_cancel_on_server(conn)) < 0)
		return r;
	printf("cancel request sent from a pool thread in %.0f ms\n", ms_since(t0));
	r = reel_wait_for(MSEC(5000), drain_cancelled, &q, &status);
	PQclear(q.res);
	if (r < 0 || status < 0)
		return r < 0 ? r : status;
	printf("connection free again %.0f ms after the deadline\n", ms_since(t0));
	if ((r = pg_query(conn, "SELECT count(*) FROM pg_stat_activity "
			  "WHERE query LIKE 'SELECT pg_sleep(10)%' AND state = 'active'",
			  &res)) < 0)
		return r;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return -EPROTO;
	}
	printf("reused: %s backends still in pg_sleep(10)\n", PQgetvalue(res, 0, 0));
	r = strcmp(PQgetvalue(res, 0, 0), "0") == 0 ? 0 : -EPROTO;
	PQclear(res);
	return r;
}

/* ---- 4. a listener fiber, and closing its connection under it --------------------- */

struct listener {
	PGconn *conn;
	int fd;               /* its socket, kept: conn may be freed when we wake */
	bool closing;         /* set by the closer before it closes */
	int heard;
	int woke;             /* what the last reel_poll returned */
	struct reel_event got;
};

/*
 * Wait for notifications. -EBADF from reel_poll means the connection was
 * closed under us (reel_cancel_fd): conn is gone, touch nothing. The flag
 * covers the other order: a poll that completed just before the closer
 * came, whose fiber runs only after PQfinish.
 */
static int listen_fiber(void *arg)
{
	struct listener *ls = arg;
	PGnotify *n;

	for (;;) {
		ls->woke = reel_poll(ls->fd, POLLIN);
		if (ls->woke == -EBADF || ls->closing)
			return ls->heard;
		if (ls->woke < 0)
			return ls->woke;
		if (!PQconsumeInput(ls->conn))
			return pg_fail(ls->conn, "listener: PQconsumeInput", -EIO);
		while ((n = PQnotifies(ls->conn)) != NULL) {
			printf("listener: heard \"%s\" on channel %s\n", n->extra, n->relname);
			ls->heard++;
			PQfreemem(n);
			reel_event_set(&ls->got);
		}
	}
}

/* The listener's connection closed under it, the way a library closes. */
static int close_under_listener(struct listener *ls, reel_task t)
{
	int cancelled, status;

	/* The listener is parked in reel_poll on ls->fd. A bare PQfinish
	 * would close(2) the descriptor, but the pending poll holds the
	 * socket: the listener would never wake, and the server would see the
	 * connection open for as long as it slept. */
	ls->closing = true;
	cancelled = reel_cancel_fd(ls->fd);
	PQfinish(ls->conn);
	reel_join(t, &status);
	printf("closing: reel_cancel_fd cancelled %d poll, PQfinish closed the socket; "
	       "the listener woke with %s and left, having heard %d\n", cancelled,
	       ls->woke == -EBADF ? "-EBADF"
	       : ls->woke < 0    ? reel_strerror(ls->woke) : "an event", status);
	return cancelled == 1 && ls->woke == -EBADF && status == 1 ? 0 : -EPROTO;
}

static int notify_and_close(PGconn *conn)
{
	static const struct reel_spawn_opts opts = { .stack_size = PG_STACK,
						     .name = "listener" };
	struct listener ls = { .heard = 0 };
	PGresult *res;
	reel_task t;
	int err, err2;

	reel_event_init(&ls.got);
	if ((err = pg_connect(&ls.conn)) < 0)
		return err;
	if ((err = pg_query(ls.conn, "LISTEN reel_demo", &res)) < 0) {
		PQfinish(ls.conn);
		return err;
	}
	PQclear(res);
	ls.fd = PQsocket(ls.conn);
	if ((err = reel_spawn(&t, listen_fiber, &ls, &opts)) < 0) {
		PQfinish(ls.conn);
		return err;
	}
	err = pg_query(conn, "NOTIFY reel_demo, 'hello from the other connection'", &res);
	if (err == 0) {
		PQclear(res);
		err = reel_event_wait_for(&ls.got, MSEC(5000));
	}
	err2 = close_under_listener(&ls, t);
	return err < 0 ? err : err2;
}

/* ---- the program ---------------------------------------------------------------- */

static int demo(void *arg)
{
	struct api *api = arg;
	PGconn *conn;
	uint64_t t0 = reel_now();
	int err;

	if ((err = pg_connect(&conn)) < 0)
		return err;
	printf("connected in %.0f ms: server %d, backend pid %d\n", ms_since(t0),
	       PQserverVersion(conn), PQbackendPID(conn));
	if ((err = query_and_api(conn, api->url)) == 0 &&
	    (err = deadline_and_cancel(conn)) == 0)
		err = notify_and_close(conn);
	PQfinish(conn);
	return err;
}

struct run {
	reel_task task;
	int status;
};

static int join_demo(void *arg)
{
	struct run *r = arg;

	return reel_join(r->task, &r->status);
}

static int main_fiber(void *arg)
{
	static const struct reel_spawn_opts opts = { .stack_size = PG_STACK, .name = "demo" };
	struct api api;
	struct run run = { .status = 0 };
	int err, status;

	(void)arg;
	if ((err = api_start(&api)) < 0)
		return err;
	/* The demo on a fiber with a larger stack, bounded as a whole: a
	 * server that stops answering is a failure, not a hang (at the
	 * deadline the join cancels the demo and waits for it). */
	err = reel_spawn(&run.task, demo, &api, &opts);
	if (err == 0 && (err = reel_wait_for(MSEC(30000), join_demo, &run, NULL)) == 0)
		err = run.status;
	if ((status = api_stop(&api)) < 0 && err == 0)
		err = status;   /* the server failed: say so */
	if (err == 0)
		printf("ok\n");
	return err;
}

int main(int argc, char **argv)
{
	if (argc > 2 || (argc == 2 && strcmp(argv[1], "--help") == 0)) {
		fprintf(stderr, "usage: %s [CONNINFO]   (default: the PG* variables)\n",
			argv[0]);
		return 2;
	}
	if (argc == 2)
		conninfo = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	return example_run(main_fiber, NULL);
}
