/*
 * llm_gateway - an AI-agent chat gateway: one prompt fans out to several
 * language-model back-ends at once, and their answers stream back to the
 * browser token by token as Server-Sent Events, while one back-end is too
 * slow and another breaks down mid-answer.
 *
 * Usage: llm_gateway PORT     (PORT 0: a free port; it is printed)
 *        then open http://127.0.0.1:PORT/ in a browser, or
 *        curl -N -X POST --data 'hi' http://127.0.0.1:PORT/chat
 *
 * Everything runs on one loop, in one thread:
 *  - four fake model back-ends, each a reel_http_server of its own on a
 *    free loopback port, answering POST /v1/generate with an event stream
 *    of "token" events: "alpha" and "beta" answer steadily, "slow" takes
 *    3.3 s where the gateway gives it 1 s, "flaky" cuts its stream off after
 *    three tokens (no final chunk);
 *  - the gateway, a reel_http_server on 127.0.0.1:PORT:
 *	GET  /                   a page whose EventSource shows the stream
 *	POST /chat               the body is the prompt: plain text, or
 *	                         {"prompt": "..."}
 *	GET  /chat?prompt=...    the same, for EventSource (it only GETs)
 *
 * One chat, the C spelling of
 *
 *	async def call(model):                     # one task per back-end
 *	    async with asyncio.timeout(model.timeout):
 *	        async for tok in client.stream(model.url, prompt):
 *	            await tokens.put((model, tok))
 *	tasks = [create_task(call(m)) for m in models]
 *	async for model, tok in tokens:            # until every call ended
 *	    yield sse("token", model, tok)
 *	results = await asyncio.gather(*tasks, return_exceptions=True)
 *	yield sse("done", summary(results))
 *
 * Each back-end call is a task that reads its back-end's event stream with
 * the reel HTTP client (reel_http_fetch, reel_http_sse_next) under its own
 * reel_wait_for deadline and puts every token into a channel (reel_chan)
 * the moment it arrives; the handler drains the channel into its own event
 * stream, so the browser sees each token as soon as its back-end sent it,
 * not once all have finished. The last call to end closes the channel;
 * reel_gather(..., REEL_GATHER_ALL) then collects every call's status (0,
 * -ETIMEDOUT, or why it failed) for the final "done" event.
 *
 * When the browser leaves, the handler is cancelled: its channel receive
 * returns -ECANCELED, it cancels the calls, and the gather waits for them
 * to close their back-end connections (which, in turn, cancels the
 * back-ends' handlers). SIGTERM or SIGINT stops the gateway gracefully
 * (REEL_HTTP_SIGNALS): chats in flight finish, then the back-ends stop and
 * the process exits 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "example.h"
#include "reel_http.h"
#include "reel_io.h"
#include "reel_sync.h"

#define TOKEN_MAX 48            /* bytes of one token, NUL included */
#define PROMPT_MAX 256          /* longer prompts are cut */

/* ---- the fake model back-ends --------------------------------------------- */

struct model {
	const char *name;
	const char *const *tokens;      /* NULL-terminated */
	unsigned gap_ms;                /* "thinking" before each token */
	int cut_after;                  /* > 0: cut the stream after this many tokens */
	unsigned timeout_ms;            /* the gateway's deadline for it */
	/* set up by start_model */
	struct reel_http_server *srv;
	int fd;
	reel_task task;                 /* reel_http_serve on fd */
	char url[64];
};

static const char *const alpha_says[] = {
	"Fibers", " park", " on", " I/O", ",", " so", " one", " thread", " serves",
	" thousands", " of", " connections", ".", NULL,
};
static const char *const beta_says[] = {
	"An", " io_uring", " loop", " batches", " system", " calls", ";", " each",
	" await", " is", " a", " context", " switch", ".", NULL,
};
static const char *const slow_says[] = {
	"Let", " me", " think", " about", " that", " very", " carefully", " before",
	" I", " answer", ".", NULL,
};
static const char *const flaky_says[] = {
	"Sure", ",", " here", " is", " a", " complete", " answer", ".", NULL,
};

static struct model models[] = {
	{ .name = "alpha", .tokens = alpha_says, .gap_ms = 30, .timeout_ms = 2000 },
	{ .name = "beta", .tokens = beta_says, .gap_ms = 45, .timeout_ms = 2000 },
	/* 3.3 s of tokens, 1 s allowed */
	{ .name = "slow", .tokens = slow_says, .gap_ms = 300, .timeout_ms = 1000 },
	/* dies after three tokens */
	{ .name = "flaky", .tokens = flaky_says, .gap_ms = 60, .cut_after = 3, .timeout_ms = 2000 },
};
#define NMODELS (sizeof(models) / sizeof(models[0]))

/* A back-end's POST /v1/generate: the prompt in, an event stream of tokens
 * out. A "flaky" model returns an error after cut_after tokens: the server
 * then cuts the stream off without its final chunk, as a crashed upstream
 * would, and the gateway's client sees a body cut short. */
static int generate(struct reel_http_req *req, void *arg)
{
	const struct model *m = arg;
	const void *prompt;
	ssize_t n;
	int err;

	if ((n = reel_http_body(req, &prompt, PROMPT_MAX * 4)) < 0)
		return (int)n;
	if ((err = reel_http_sse_begin(req)) < 0)
		return err;
	for (int i = 0; m->tokens[i]; i++) {
		struct reel_http_event ev = { .event = "token", .data = m->tokens[i] };

		if (m->cut_after > 0 && i == m->cut_after)
			return -EIO;            /* cut off: no final chunk */
		if ((err = reel_sleep(MSEC(m->gap_ms))) < 0 ||
		    (err = reel_http_sse_send(req, &ev)) < 0)
			return err;             /* the gateway gave up on us */
	}
	return 0;                       /* the server ends the stream */
}

static int serve_model(void *arg)
{
	struct model *m = arg;

	return reel_http_serve(m->srv, m->fd);
}

static int start_model(struct model *m)
{
	static const struct reel_http_server_opts opts = {
		.server_name = "fake-model",
		.shutdown_timeout_ns = MSEC(500),
	};
	static const struct reel_spawn_opts serve_opts = { .name = "model server" };
	int err;

	if ((err = reel_http_server_create(&m->srv, &opts)) < 0)
		return err;
	if ((err = reel_http_route(m->srv, "POST", "/v1/generate", generate, m)) < 0)
		goto destroy;
	if ((m->fd = err = reel_listen_tcp("127.0.0.1", 0, 0)) < 0)
		goto destroy;
	snprintf(m->url, sizeof(m->url), "http://127.0.0.1:%d/v1/generate",
		 reel_local_port(m->fd));
	if ((err = reel_spawn(&m->task, serve_model, m, &serve_opts)) < 0)
		goto close_fd;
	printf("model %-5s at %s: a token every %u ms, gateway deadline %u ms", m->name,
	       m->url, m->gap_ms, m->timeout_ms);
	if (m->cut_after > 0)
		printf(", cuts its stream off after %d tokens", m->cut_after);
	printf("\n");
	return 0;
close_fd:
	close(m->fd);
destroy:
	reel_http_server_destroy(m->srv);
	m->srv = NULL;
	return err;
}

static void stop_model(struct model *m)
{
	int status;

	if (!m->srv)
		return;
	reel_http_shutdown(m->srv);
	reel_join(m->task, &status);
	if (status < 0)
		fprintf(stderr, "llm_gateway: model %s: serve: %s\n", m->name,
			reel_strerror(status));
	close(m->fd);
	reel_http_server_destroy(m->srv);
	m->srv = NULL;
}

/* ---- a little JSON ---------------------------------------------------------- */

/* A string builder on caller storage; output past @cap is dropped, the
 * text stays NUL-terminated. */
struct buf {
	char *p;
	size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->len + 1 >= b->cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len = b->len + (size_t)n < b->cap ? b->len + (size_t)n : b->cap - 1;
}

/* @s as a JSON string, quotes included. */
static void put_json(struct buf *b, const char *s)
{
	put(b, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			put(b, "\\%c", c);
		else if (c < 0x20)
			put(b, "\\u%04x", c);
		else
			put(b, "%c", c);
	}
	put(b, "\"");
}

/* The prompt of {"prompt": "..."}: enough JSON for the example (the
 * escapes \" and \\ are undone, others kept). Returns 0, or -EINVAL when
 * there is no such string. */
static int json_prompt(const char *body, char *out, size_t cap)
{
	const char *p = strstr(body, "\"prompt\"");
	size_t n = 0;

	if (!p)
		return -EINVAL;
	p += strlen("\"prompt\"");
	p += strspn(p, " \t\r\n");
	if (*p++ != ':')
		return -EINVAL;
	p += strspn(p, " \t\r\n");
	if (*p++ != '"')
		return -EINVAL;
	for (; *p && *p != '"'; p++) {
		if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
			p++;
		if (n + 1 < cap)
			out[n++] = *p;
	}
	out[n] = '\0';
	return *p == '"' ? 0 : -EINVAL;
}

/* ---- one chat: fan out, stream back, gather ------------------------------------ */

struct token_msg {
	unsigned model;                 /* index into models[] */
	char text[TOKEN_MAX];
};

struct chat {
	const char *prompt;
	struct reel_chan tokens;        /* struct token_msg, calls -> handler */
	unsigned running;               /* calls not ended; the last closes tokens */
	unsigned forwarded[NMODELS];    /* tokens the browser got, per model */
};

struct call {
	struct chat *chat;
	unsigned model;
};

static struct reel_http_client *client;   /* the gateway's pool of back-end connections */

/* One back-end's answer, token by token into the chat's channel. Runs
 * under the model's deadline: once it passes, the fetch or the read in
 * progress returns -ETIMEDOUT and we leave (closing the connection). */
static int stream_model(void *arg)
{
	static const char *const headers[] = { "Content-Type", "text/plain", NULL };
	const struct call *c = arg;
	const struct model *m = &models[c->model];
	struct reel_http_request rq = {
		.method = "POST",
		.url = m->url,
		.headers = headers,
		.body = c->chat->prompt,
		.body_len = strlen(c->chat->prompt),
	};
	struct reel_http_resp *resp;
	struct reel_http_sse_msg msg;
	struct token_msg t = { .model = c->model };
	int err;

	if ((err = reel_http_fetch(client, &rq, &resp)) < 0)
		return err;
	if (reel_http_resp_status(resp) != 200) {
		err = -EPROTO;
	} else {
		while ((err = reel_http_sse_next(resp, &msg)) == 1) {
			if (strcmp(msg.event, "token"))
				continue;
			snprintf(t.text, sizeof(t.text), "%s", msg.data);
			if ((err = reel_chan_send(&c->chat->tokens, &t)) < 0)
				break;
		}
	}
	reel_http_resp_close(resp);
	return err;
}

/* A call task: stream_model under reel_wait_for. Its status is what the
 * gather reports: 0, -ETIMEDOUT, or the error that ended the stream. */
static int call_model(void *arg)
{
	struct call *c = arg;
	int status, err;

	err = reel_wait_for(MSEC(models[c->model].timeout_ms), stream_model, c, &status);
	if (--c->chat->running == 0)
		reel_chan_close(&c->chat->tokens);   /* the handler's drain ends */
	return err < 0 ? err : status;
}

static int send_token(struct reel_http_req *req, const struct token_msg *t)
{
	char data[128];
	struct buf b = { data, 0, sizeof(data) };
	struct reel_http_event ev = { .event = "token", .data = data };

	put(&b, "{\"model\":");
	put_json(&b, models[t->model].name);
	put(&b, ",\"token\":");
	put_json(&b, t->text);
	put(&b, "}");
	return reel_http_sse_send(req, &ev);
}

/* The "done" event: which calls succeeded, timed out, failed (and why). */
static int send_done(struct reel_http_req *req, const struct chat *ch, const int *status,
		     uint64_t t0)
{
	static const char *const kinds[] = { "ok", "timed_out", "failed" };
	char data[1024];
	struct buf b = { data, 0, sizeof(data) };
	struct reel_http_event ev = { .event = "done", .data = data };

	put(&b, "{\"prompt\":");
	put_json(&b, ch->prompt);
	put(&b, ",\"ms\":%.0f", ms_since(t0));
	for (int k = 0; k < 3; k++) {
		const char *sep = "";

		put(&b, ",\"%s\":[", kinds[k]);
		for (unsigned i = 0; i < NMODELS; i++) {
			int kind = status[i] >= 0 ? 0 : status[i] == -ETIMEDOUT ? 1 : 2;

			if (kind != k)
				continue;
			put(&b, "%s", sep);
			sep = ",";
			if (k < 2) {
				put_json(&b, models[i].name);
			} else {
				put(&b, "{\"model\":");
				put_json(&b, models[i].name);
				put(&b, ",\"error\":");
				put_json(&b, reel_strerror(status[i]));
				put(&b, "}");
			}
		}
		put(&b, "]");
	}
	put(&b, ",\"tokens\":{");
	for (unsigned i = 0; i < NMODELS; i++)
		put(&b, "%s\"%s\":%u", i ? "," : "", models[i].name, ch->forwarded[i]);
	put(&b, "}}");
	return reel_http_sse_send(req, &ev);
}

static int chat(struct reel_http_req *req, const char *prompt)
{
	static const struct reel_spawn_opts call_opts = { .name = "model call" };
	struct chat ch = { .prompt = prompt };
	struct call calls[NMODELS];
	reel_task tasks[NMODELS];
	int status[NMODELS];
	struct token_msg t;
	uint64_t t0 = reel_now();
	unsigned n = 0;
	int err;

	if ((err = reel_chan_init(&ch.tokens, sizeof(struct token_msg), 16)) < 0)
		return err;
	if ((err = reel_http_sse_begin(req)) < 0)
		goto destroy;
	for (; n < NMODELS; n++) {
		calls[n] = (struct call){ &ch, n };
		if ((err = reel_spawn(&tasks[n], call_model, &calls[n], &call_opts)) < 0)
			break;
	}
	ch.running = n;         /* the calls first run when we park, below */

	/* Forward each token the moment a call hands it over. */
	while (err >= 0 && (err = reel_chan_recv(&ch.tokens, &t)) == 0) {
		ch.forwarded[t.model]++;
		err = send_token(req, &t);
	}
	/* -EPIPE: every call ended and closed the channel. Anything else (the
	 * browser left and we are cancelled, a write failed, a spawn failed):
	 * stop the calls; a call stuck sending into the channel gets -EPIPE. */
	if (err != -EPIPE) {
		for (unsigned i = 0; i < n; i++)
			reel_cancel(tasks[i]);
		reel_chan_close(&ch.tokens);
	}
	/* return_exceptions=True: every status tells its own story. When we are
	 * cancelled, gather still waits for every call before returning. */
	if (reel_gather(tasks, n, status, REEL_GATHER_ALL) == 0 && err == -EPIPE)
		err = send_done(req, &ch, status, t0);
destroy:
	reel_chan_destroy(&ch.tokens);
	return err;
}

/* GET /chat?prompt=... (EventSource) */
static int chat_get(struct reel_http_req *req, void *arg)
{
	const char *q = reel_http_query_param(req, "prompt");
	char prompt[PROMPT_MAX];

	(void)arg;
	snprintf(prompt, sizeof(prompt), "%s", q && *q ? q : "hello");
	return chat(req, prompt);
}

/* POST /chat: the body is the prompt, plain or {"prompt": "..."}. */
static int chat_post(struct reel_http_req *req, void *arg)
{
	static const char too_big[] = "a prompt is at most 4 KiB\n";
	static const char bad[] = "expected {\"prompt\": \"...\"}\n";
	char prompt[PROMPT_MAX];
	const void *body;
	const char *text;
	ssize_t n;

	(void)arg;
	n = reel_http_body(req, &body, 4096);
	if (n == -EMSGSIZE)
		return reel_http_respond(req, 413, "text/plain", too_big, sizeof(too_big) - 1);
	if (n < 0)
		return (int)n;
	text = body;
	text += strspn(text, " \t\r\n");
	if (*text == '{') {
		if (json_prompt(text, prompt, sizeof(prompt)) < 0)
			return reel_http_respond(req, 400, "text/plain", bad, sizeof(bad) - 1);
	} else {
		snprintf(prompt, sizeof(prompt), "%.*s", (int)strcspn(text, "\r\n"), text);
	}
	return chat(req, *prompt ? prompt : "hello");
}

/* ---- the page ------------------------------------------------------------------- */

static const char page[] =
"<!doctype html>\n"
"<html><head><meta charset='utf-8'><title>reel LLM gateway</title>\n"
"<style>\n"
" body { font-family: sans-serif; max-width: 48em; margin: 2em auto; }\n"
" pre { background: #f4f4f4; padding: 1em; white-space: pre-wrap; min-height: 6em; }\n"
" #done { color: #555; }\n"
"</style></head><body>\n"
"<h1>Ask every model at once</h1>\n"
"<form id='ask'><input id='prompt' value='hello' size='40'> <button>ask</button></form>\n"
"<pre id='out'></pre>\n"
"<div id='done'></div>\n"
"<script>\n"
"let es = null;\n"
"function ask(prompt) {\n"
"  const out = document.getElementById('out'), done = document.getElementById('done');\n"
"  const lines = {};\n"
"  if (es) es.close();\n"
"  out.textContent = '';\n"
"  done.textContent = 'streaming...';\n"
"  es = new EventSource('/chat?prompt=' + encodeURIComponent(prompt));\n"
"  es.addEventListener('token', e => {\n"
"    const t = JSON.parse(e.data);\n"
"    let line = lines[t.model];\n"
"    if (!line) {\n"
"      line = lines[t.model] = document.createElement('span');\n"
"      line.id = 'model-' + t.model;\n"
"      line.textContent = t.model + ':';\n"
"      out.append(line, '\\n');\n"
"    }\n"
"    line.textContent += t.token;\n"
"  });\n"
"  es.addEventListener('done', e => {\n"
"    const d = JSON.parse(e.data);\n"
"    es.close();\n"
"    done.textContent = 'done in ' + d.ms + ' ms. ok: ' + d.ok.join(', ') +\n"
"      '; timed out: ' + d.timed_out.join(', ') +\n"
"      '; failed: ' + d.failed.map(f => f.model + ' (' + f.error + ')').join(', ');\n"
"  });\n"
"  es.onerror = () => {\n"
"    es.close();   /* no automatic retry: that would ask all over again */\n"
"    if (done.textContent === 'streaming...') done.textContent = 'the stream broke off';\n"
"  };\n"
"}\n"
"document.getElementById('ask').onsubmit = e => {\n"
"  e.preventDefault();\n"
"  ask(document.getElementById('prompt').value);\n"
"};\n"
"ask(document.getElementById('prompt').value);\n"
"</script></body></html>\n";

static int index_page(struct reel_http_req *req, void *arg)
{
	(void)arg;
	return reel_http_respond(req, 200, "text/html; charset=utf-8", page, sizeof(page) - 1);
}

/* ---- the program ------------------------------------------------------------------ */

static int main_fiber(void *arg)
{
	static const struct reel_http_server_opts opts = {
		.flags = REEL_HTTP_SIGNALS,
		.shutdown_timeout_ns = MSEC(3000),
	};
	int port = (int)(intptr_t)arg;
	struct reel_http_server *gw = NULL;
	int fd = -1, err;

	if ((err = reel_http_client_create(&client, NULL)) < 0) {
		fprintf(stderr, "llm_gateway: client: %s\n", reel_strerror(err));
		return err;
	}
	for (unsigned i = 0; i < NMODELS; i++) {
		if ((err = start_model(&models[i])) < 0) {
			fprintf(stderr, "llm_gateway: model %s: %s\n", models[i].name,
				reel_strerror(err));
			goto stop;
		}
	}
	if ((err = reel_http_server_create(&gw, &opts)) < 0 ||
	    (err = reel_http_route(gw, "GET", "/", index_page, NULL)) < 0 ||
	    (err = reel_http_route(gw, "GET", "/chat", chat_get, NULL)) < 0 ||
	    (err = reel_http_route(gw, "POST", "/chat", chat_post, NULL)) < 0) {
		fprintf(stderr, "llm_gateway: gateway: %s\n", reel_strerror(err));
		goto stop;
	}
	if ((fd = err = reel_listen_tcp("127.0.0.1", (uint16_t)port, 0)) < 0) {
		fprintf(stderr, "llm_gateway: cannot listen on 127.0.0.1:%d: %s\n", port,
			reel_strerror(err));
		goto stop;
	}
	printf("listening on 127.0.0.1:%d\n", reel_local_port(fd));
	fflush(stdout);

	err = reel_http_serve(gw, fd);          /* until SIGTERM / SIGINT */
	if (err < 0)
		fprintf(stderr, "llm_gateway: serve: %s\n", reel_strerror(err));
	else
		fprintf(stderr, "llm_gateway: shut down cleanly\n");
	close(fd);
stop:
	reel_http_server_destroy(gw);
	for (unsigned i = 0; i < NMODELS; i++)
		stop_model(&models[i]);
	reel_http_client_destroy(client);
	return err;
}

int main(int argc, char **argv)
{
	sigset_t stop;
	char *end;
	long port;

	port = argc == 2 ? strtol(argv[1], &end, 10) : -1;
	if (argc != 2 || *end || port < 0 || port > 65535) {
		fprintf(stderr, "usage: %s PORT   (0: any free port)\n", argv[0]);
		return 2;
	}
	/* Blocked from the start: a SIGTERM that comes before the gateway
	 * listens for it waits instead of killing the process. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	return example_run(main_fiber, (void *)(intptr_t)port);
}
