#!/usr/bin/env python3
"""Description: the reel HTTP server end to end against hostile and awkward
clients, over raw sockets (stdlib only).

    python3 tests/http/hostile.py --server build/tests/http_test_server [-v] [Test.names]
    python3 tests/http/hostile.py --table      (the rejected inputs, as markdown)

Each rejected input (REJECTED below) goes on a fresh socket: the answer must
carry exactly the status listed (None: closing without a word is allowed),
the server must then close the connection, and still answer GET /hello to
the next client. The behaviour tests cover keep-alive, pipelining, HEAD,
HTTP/1.0, Expect: 100-continue, routing, chunked bodies and trailers, every
timeout (never early; late by up to ~3 s, as sleeps on this machine wake
up to 0.5 s late), streams, SSE, generators cancelled by a leaving client,
the connection limit, thousands of idle or reset connections, and graceful
shutdown. Servers run with short timeouts so the whole run takes ~30 s.
"""
import argparse
import email.utils
import json
import os
import resource
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import unittest

SERVER = None     # path of http_test_server, from --server
HOST = "127.0.0.1"
H = b"Host: t\r\n"

# The main server's options: every timeout short, so the timing tests are quick.
MAIN_OPTS = ["--header-timeout-ms", "1000", "--idle-timeout-ms", "1500",
             "--body-timeout-ms", "1000", "--write-timeout-ms", "1000",
             "--handler-timeout-ms", "1500", "--sse-keepalive-ms", "200",
             "--max-body", str(1 << 20)]


def client_hello():
    """The bytes of a real TLS ClientHello (what an https:// client sends first)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def req(line, *fields, body=b"", host=True):
    """A request: @line, Host (unless @host is False), @fields, blank line, @body."""
    head = line + b"\r\n" + (H if host else b"") + b"".join(f + b"\r\n" for f in fields)
    return head + b"\r\n" + body


# (what, request bytes, accepted statuses: None = closed without an answer)
REJECTED = [
    ("invalid method token `G@T`", req(b"G@T /hello HTTP/1.1"), {400}),
    ("unknown method, valid token `BREW`", req(b"BREW /hello HTTP/1.1"), {501}),
    ("NUL in a header value", req(b"GET /hello HTTP/1.1", b"X-Test: a\x00b"), {400}),
    ("control byte 0x01 in a header value", req(b"GET /hello HTTP/1.1", b"X-Test: a\x01b"), {400}),
    ("DEL 0x7f in a header value", req(b"GET /hello HTTP/1.1", b"X-Test: a\x7fb"), {400}),
    ("control byte in a header name", req(b"GET /hello HTTP/1.1", b"X-T\x01st: a"), {400}),
    ("bare CR in a header value", req(b"GET /hello HTTP/1.1", b"X-Test: a\rb"), {400}),
    ("bare LF ending a header line", req(b"GET /hello HTTP/1.1", b"X-Test: a\nX-More: b"), {400}),
    ("header line without a colon", req(b"GET /hello HTTP/1.1", b"X-Test"), {400}),
    ("space before the colon `Host : t`", req(b"GET /hello HTTP/1.1", b"Host : t", host=False), {400}),
    ("space before the colon `X-Test : a`", req(b"GET /hello HTTP/1.1", b"X-Test : a"), {400}),
    ("empty field name `: a`", req(b"GET /hello HTTP/1.1", b": a"), {400}),
    ("obs-fold `X-Test: a` CRLF SP `b`", req(b"GET /hello HTTP/1.1", b"X-Test: a\r\n b"), {400}),
    ("obs-fold hiding Content-Length", req(b"POST /echo HTTP/1.1", b"X-Test: a\r\n Content-Length: 5",
                                          body=b"hello"), {400}),
    ("whitespace before the first field", req(b"GET /hello HTTP/1.1", b" X-Test: a"), {400}),
    ("HTTP/1.1 without Host", req(b"GET /hello HTTP/1.1", host=False), {400}),
    ("two Host fields", req(b"GET /hello HTTP/1.1", b"Host: u"), {400}),
    ("invalid Host `a b`", req(b"GET /hello HTTP/1.1", b"Host: a b", host=False), {400}),
    ("invalid Host `a/b`", req(b"GET /hello HTTP/1.1", b"Host: a/b", host=False), {400}),
    ("invalid Host port `a:b`", req(b"GET /hello HTTP/1.1", b"Host: a:b", host=False), {400}),
    ("HTTP/0.9 `GET /`", b"GET /\r\n", {400}),
    ("version HTTP/2.0", req(b"GET /hello HTTP/2.0"), {505}),
    ("version HTTP/3.0", req(b"GET /hello HTTP/3.0"), {505}),
    ("protocol `FOO/1.1`", req(b"GET /hello FOO/1.1"), {400}),
    ("request line over 8 KiB", req(b"GET /files/" + b"a" * 9000 + b" HTTP/1.1"), {414}),
    ("one header field over 16 KiB", req(b"GET /hello HTTP/1.1", b"X-Big: " + b"a" * 17000), {431}),
    ("head over 16 KiB in 90 fields", req(b"GET /hello HTTP/1.1",
                                          *[b"X-F%d: %s" % (i, b"a" * 200) for i in range(90)]), {431}),
    ("120 header fields (limit 100)", req(b"GET /hello HTTP/1.1",
                                          *[b"X-F%d: a" % i for i in range(120)]), {431}),
    ("Content-Length over max_body (1 MiB)", req(b"POST /echo HTTP/1.1", b"Content-Length: 2000000"), {413}),
    ("Content-Length `-1`", req(b"POST /echo HTTP/1.1", b"Content-Length: -1"), {400}),
    ("Content-Length `+5`", req(b"POST /echo HTTP/1.1", b"Content-Length: +5", body=b"hello"), {400}),
    ("Content-Length `abc`", req(b"POST /echo HTTP/1.1", b"Content-Length: abc"), {400}),
    ("Content-Length empty", req(b"POST /echo HTTP/1.1", b"Content-Length: "), {400}),
    ("Content-Length `99999999999999999999`", req(b"POST /echo HTTP/1.1",
                                                  b"Content-Length: 99999999999999999999"), {400}),
    ("Content-Length list `5, 5`", req(b"POST /echo HTTP/1.1", b"Content-Length: 5, 5", body=b"hello"), {400}),
    ("two Content-Length, different", req(b"POST /echo HTTP/1.1", b"Content-Length: 5",
                                          b"Content-Length: 6", body=b"hello!"), {400}),
    ("two Content-Length, equal", req(b"POST /echo HTTP/1.1", b"Content-Length: 5",
                                      b"Content-Length: 5", body=b"hello"), {400}),
    ("Content-Length with Transfer-Encoding", req(b"POST /echo HTTP/1.1", b"Content-Length: 5",
                                                  b"Transfer-Encoding: chunked", body=b"0\r\n\r\n"), {400}),
    ("chunk size `zz`", req(b"POST /echo HTTP/1.1", b"Transfer-Encoding: chunked",
                            body=b"zz\r\nhello\r\n0\r\n\r\n"), {400}),
    ("chunk size overflowing 64 bits", req(b"POST /echo HTTP/1.1", b"Transfer-Encoding: chunked",
                                           body=b"1ffffffffffffffff\r\nhello\r\n0\r\n\r\n"), {400}),
    ("chunk data not followed by CRLF", req(b"POST /echo HTTP/1.1", b"Transfer-Encoding: chunked",
                                            body=b"5\r\nhelloXX0\r\n\r\n"), {400}),
    ("chunk extension over 16 KiB", req(b"POST /echo HTTP/1.1", b"Transfer-Encoding: chunked",
                                        body=b"5;a=" + b"b" * 17000 + b"\r\nhello\r\n0\r\n\r\n"), {400}),
    # chunked not last: the length cannot be known, 400 (RFC 9112 §6.3 MUST);
    # chunked last after a coding reel lacks: 501 (§6.1)
    ("Transfer-Encoding `gzip`", req(b"POST /echo HTTP/1.1", b"Transfer-Encoding: gzip"), {400}),
    ("Transfer-Encoding `gzip, chunked`", req(b"POST /echo HTTP/1.1", b"Transfer-Encoding: gzip, chunked",
                                              body=b"0\r\n\r\n"), {501}),
    ("Transfer-Encoding `chunked, gzip`", req(b"POST /echo HTTP/1.1", b"Transfer-Encoding: chunked, gzip",
                                              body=b"0\r\n\r\n"), {400}),
    ("Transfer-Encoding on HTTP/1.0", req(b"POST /echo HTTP/1.0", b"Transfer-Encoding: chunked",
                                          body=b"5\r\nhello\r\n0\r\n\r\n", host=False), {400}),
    ("`%00` in the path", req(b"GET /files/a%00b HTTP/1.1"), {400}),
    ("invalid escape `%zz` in the path", req(b"GET /files/a%zzb HTTP/1.1"), {400}),
    ("byte 0xff in the request-target", req(b"GET /files/a\xffb HTTP/1.1"), {400}),
    ("HTTP/2 preface `PRI * HTTP/2.0`", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", {400, None}),
    ("TLS ClientHello", client_hello(), {400, None}),
]


class Resp:
    def __init__(self, version, status, headers, body=b"", trailers=None):
        self.version, self.status, self.body = version, status, body
        self.fields = headers                       # [(lower-case name, value)]
        self.headers = {k: v for k, v in headers}   # the last of each name
        self.trailers = trailers or {}

    def __repr__(self):
        return "<%s %d %r %r>" % (self.version, self.status, self.fields, self.body[:80])


class Conn:
    """A raw client socket with a read buffer and a small response parser."""

    def __init__(self, port, timeout=5.0, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((HOST, port))
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        self.sock.close()

    def reset(self):
        """Close with an RST (SO_LINGER 0)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        self.sock.close()

    def fill(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise EOFError("the server closed the connection")
        self.buf += data

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def until(self, sep):
        while sep not in self.buf:
            self.fill()
        return self.take(self.buf.index(sep) + len(sep))

    def chunked(self):
        body = b""
        while True:
            size = int(self.until(b"\r\n")[:-2].split(b";")[0], 16)
            if size == 0:
                break
            body += self.take(size)
            assert self.take(2) == b"\r\n", "chunk data not followed by CRLF"
        trailers = {}
        while True:
            line = self.until(b"\r\n")[:-2]
            if not line:
                return body, trailers
            k, v = line.split(b":", 1)
            trailers[k.strip().lower().decode()] = v.strip().decode("latin-1")

    def head(self):
        """The next response head: (version, status, fields); None when the
        server closed (FIN or RST) before sending a byte."""
        if not self.buf:
            try:
                self.fill()
            except (EOFError, ConnectionResetError):
                return None
        lines = self.until(b"\r\n\r\n")[:-4].split(b"\r\n")
        version, status = lines[0].split(b" ")[:2]
        fields = []
        for line in lines[1:]:
            k, v = line.split(b":", 1)
            fields.append((k.strip().lower().decode(), v.strip().decode("latin-1")))
        return version.decode(), int(status), fields

    def response(self, head_request=False):
        """The next response with its body; None as for head()."""
        h = self.head()
        if h is None:
            return None
        r = Resp(*h)
        if head_request or 100 <= r.status < 200 or r.status in (204, 304):
            pass
        elif "chunked" in r.headers.get("transfer-encoding", ""):
            r.body, r.trailers = self.chunked()
        elif "content-length" in r.headers:
            r.body = self.take(int(r.headers["content-length"]))
        else:
            r.body = self.read_to_close()
        return r

    def read_to_close(self):
        while True:
            try:
                self.fill()
            except EOFError:
                out, self.buf = self.buf, b""
                return out

    def closed(self, timeout=3.0):
        """True once the server closed (FIN, or RST) within @timeout; False
        if it stays open or sends more bytes (they go to self.buf)."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 16)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        self.buf += data
        return not data


class Server:
    """http_test_server on a free port, stopped by SIGTERM."""

    def __init__(self, *opts):
        self.proc = subprocess.Popen([SERVER, "0", *opts], stdout=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline().decode() if ready else ""
        if not line.startswith("port "):
            self.proc.kill()
            raise RuntimeError("http_test_server printed %r, not its port" % line)
        self.port = int(line.split()[1])

    def get(self, path, timeout=5.0):
        """GET @path on a new connection: (status, body)."""
        c = Conn(self.port, timeout)
        try:
            c.send(req(b"GET " + path.encode() + b" HTTP/1.1", b"Connection: close"))
            r = c.response()
            if r is None:
                raise AssertionError("GET %s: closed without an answer" % path)
            return r.status, r.body
        finally:
            c.close()

    def stats(self):
        return json.loads(self.get("/stats")[1])

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout=10.0):
        """SIGTERM, then its exit status (killed and None after @timeout)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        finally:
            self.proc.stdout.close()


def wait_until(pred, timeout, step=0.05):
    """Poll @pred until true or @timeout seconds: its last value."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)


class ServerCase(unittest.TestCase):
    """Tests against one server, started once for the class."""
    opts = MAIN_OPTS

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(*cls.opts)
        cls.port = cls.srv.port

    @classmethod
    def tearDownClass(cls):
        code = cls.srv.stop()
        if code != 0:
            raise AssertionError("%s: the server exited %r after SIGTERM" % (cls.__name__, code))

    def tearDown(self):
        self.assertIsNone(self.srv.proc.poll(), "the server died")

    def conn(self, **kw):
        c = Conn(self.port, **kw)
        self.addCleanup(c.close)
        return c

    def exchange(self, data, head_request=False):
        c = self.conn()
        c.send(data)
        return c, c.response(head_request)

    def assert_hello(self, c=None):
        """GET /hello answers 200 "hello\\n" (on @c, else on a new connection)."""
        c = c or self.conn()
        c.send(req(b"GET /hello HTTP/1.1"))
        r = c.response()
        self.assertIsNotNone(r, "closed instead of answering GET /hello")
        self.assertEqual((r.status, r.body), (200, b"hello\n"))
        return r

    def assert_closed(self, c, what=""):
        self.assertEqual(c.buf, b"", "%s: bytes after the answer" % what)
        self.assertTrue(c.closed(), "%s: the connection stays open" % what)

    def assert_open_and_correct(self, c, what):
        """After an answer that may or may not close: either the server closed,
        or the connection still answers a request correctly."""
        try:
            c.send(req(b"GET /hello HTTP/1.1"))
            r = c.response()
        except (BrokenPipeError, ConnectionResetError, EOFError):
            return
        if r is not None:
            self.assertEqual((r.status, r.body), (200, b"hello\n"), what)


class Rejected(ServerCase):
    """Every input of REJECTED gets its status, then a closed connection."""

    def test_rejected_inputs(self):
        for what, data, statuses in REJECTED:
            with self.subTest(what):
                c = self.conn()
                try:
                    c.send(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass   # closed before taking it all: the answer may still be there
                try:
                    r = c.response()
                except ConnectionResetError:
                    r = "reset"
                status = r.status if isinstance(r, Resp) else r
                self.assertIn(status, statuses, "%s: got %r" % (what, r))
                if r is not None and r != "reset":
                    self.assertEqual(r.version, "HTTP/1.1")
                    self.assert_closed(c, what)
                c.close()
                self.assert_hello()

    def test_method_not_allowed_keeps_connection(self):
        for method in (b"POST", b"DELETE", b"PUT"):
            with self.subTest(method.decode()):
                c, r = self.exchange(req(method + b" /hello HTTP/1.1", b"Content-Length: 5", body=b"abcde"))
                self.assertEqual(r.status, 405)
                self.assertIn("GET", r.headers.get("allow", ""))
                self.assertIn("HEAD", r.headers.get("allow", ""))
                self.assert_open_and_correct(c, "after 405")

    def test_not_found_keeps_connection(self):
        c, r = self.exchange(req(b"GET /nope HTTP/1.1"))
        self.assertEqual(r.status, 404)
        self.assert_hello(c)

    def test_body_over_max_body_chunked(self):
        c = self.conn()
        c.send(req(b"POST /echo HTTP/1.1", b"Transfer-Encoding: chunked"))
        try:
            for _ in range(20):             # 1.25 MiB, above the 1 MiB cap
                c.send(b"10000\r\n" + b"x" * 65536 + b"\r\n")
            c.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.response()
        self.assertIsNotNone(r)
        self.assertEqual(r.status, 413)
        self.assert_hello()

    def test_body_exactly_max_body(self):
        body = bytes(range(256)) * 4096     # 1 MiB
        c, r = self.exchange(req(b"POST /echo HTTP/1.1", b"Content-Length: %d" % len(body), body=body))
        self.assertEqual(r.status, 200)
        self.assertTrue(r.body == body, "1 MiB body echoed wrong")


class Behaviour(ServerCase):
    def test_keep_alive(self):
        c = self.conn()
        r1 = self.assert_hello(c)
        r2 = self.assert_hello(c)
        for r in (r1, r2):
            self.assertNotEqual(r.headers.get("connection", "").lower(), "close")

    def test_pipelining(self):
        c = self.conn()
        c.send(req(b"GET /query?q=1 HTTP/1.1")
               + req(b"POST /echo HTTP/1.1", b"Content-Length: 5", body=b"two!!")
               + req(b"GET /query?q=3 HTTP/1.1"))
        self.assertEqual([c.response().body for _ in range(3)], [b"1", b"two!!", b"3"])
        many = b"".join(req(b"GET /query?q=%d HTTP/1.1" % i) for i in range(50))
        c.send(many)
        self.assertEqual([c.response().body for _ in range(50)], [b"%d" % i for i in range(50)])

    def test_head(self):
        c, r = self.exchange(req(b"HEAD /hello HTTP/1.1"), head_request=True)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("content-length"), "6")
        self.assert_hello(c)    # a stray body would be read as this status line

    def test_http10_closes(self):
        c, r = self.exchange(b"GET /hello HTTP/1.0\r\n\r\n")
        self.assertEqual((r.version, r.status, r.body), ("HTTP/1.1", 200, b"hello\n"))
        self.assert_closed(c, "HTTP/1.0")

    def test_http10_keep_alive(self):
        c = self.conn()
        for _ in range(2):
            c.send(b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = c.response()
            self.assertEqual((r.status, r.body), (200, b"hello\n"))
            self.assertEqual(r.headers.get("connection", "").lower(), "keep-alive")

    def test_connection_close(self):
        c, r = self.exchange(req(b"GET /hello HTTP/1.1", b"Connection: close"))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("connection", "").lower(), "close")
        self.assert_closed(c, "Connection: close")

    def test_date_and_server(self):
        c, r = self.exchange(req(b"GET /hello HTTP/1.1"))
        self.assertEqual(r.headers.get("server"), "reel")
        date = email.utils.parsedate_to_datetime(r.headers["date"])
        self.assertLess(abs(date.timestamp() - time.time()), 5)
        self.assertTrue(r.headers["date"].endswith(" GMT"))

    def test_expect_100_continue(self):
        c = self.conn()
        c.send(req(b"POST /echo HTTP/1.1", b"Content-Length: 5", b"Expect: 100-continue"))
        r = c.response()
        self.assertEqual(r.status, 100)
        c.send(b"hello")
        r = c.response()
        self.assertEqual((r.status, r.body), (200, b"hello"))
        self.assert_hello(c)

    def test_expect_100_not_read(self):
        # The handler answers without reading: no 100, and then either the
        # connection closes or the body sent late is skipped, not parsed.
        c = self.conn()
        c.send(req(b"GET /hello HTTP/1.1", b"Content-Length: 5", b"Expect: 100-continue"))
        r = c.response()
        self.assertEqual((r.status, r.body), (200, b"hello\n"))
        try:
            c.send(b"abcde")
        except (BrokenPipeError, ConnectionResetError):
            return
        self.assert_open_and_correct(c, "after Expect without reading")

    def test_routes(self):
        cases = [("/users/42", b'{"id":"42"}'), ("/users/a%20b", b'{"id":"a b"}'),
                 ("/files/a/b/c.txt", b"a/b/c.txt"), ("/files/x", b"x"),
                 ("/query?q=a%20b+c", b"a b c"), ("/query?x=1&q=%E2%9C%93", "\u2713".encode()),
                 ("/query?q=", b""), ("/query", b"(none)")]
        for path, body in cases:
            with self.subTest(path):
                self.assertEqual(self.srv.get(path), (200, body))
        c, r = self.exchange(req(b"GET /header HTTP/1.1", b"X-Test:   spaced value  "))
        self.assertEqual(r.body, b"spaced value")

    def test_chunked_body_extensions_trailers(self):
        # (`;a=b;c=d`, a valued extension then another, is valid but llhttp
        # 8.1 refuses it: docs/http.md, "Hostile input".)
        body = b"5;ext=1\r\nhello\r\n6;flag;c=\"d e\"\r\n world\r\n0\r\nT: tv\r\n\r\n"
        c, r = self.exchange(req(b"POST /echo HTTP/1.1", b"Transfer-Encoding: chunked",
                                 b"Trailer: T", body=body))
        self.assertEqual((r.status, r.body), (200, b"hello world"))
        self.assertEqual(r.headers.get("x-trailer-t"), "tv")
        self.assert_hello(c)

    def test_body_whole_with_limit(self):
        c, r = self.exchange(req(b"POST /echo-all HTTP/1.1", b"Content-Length: 5", body=b"hello"))
        self.assertEqual((r.status, r.body), (200, b"hello"))
        c, r = self.exchange(req(b"POST /echo-all?limit=10 HTTP/1.1", b"Content-Length: 20", body=b"x" * 20))
        self.assertEqual(r.status, 413)
        self.assert_open_and_correct(c, "after the handler's 413")

    def test_stream(self):
        c, r = self.exchange(req(b"GET /stream HTTP/1.1"))
        self.assertEqual(r.headers.get("transfer-encoding"), "chunked")
        self.assertEqual(r.body, b"".join(b"chunk %d\n" % i for i in range(10)))
        self.assert_hello(c)

    def test_stream_http10_close_delimited(self):
        c, r = self.exchange(b"GET /stream HTTP/1.0\r\n\r\n")
        self.assertNotIn("transfer-encoding", r.headers)
        self.assertEqual(r.body, b"".join(b"chunk %d\n" % i for i in range(10)))

    def test_gen_finite(self):
        before = self.srv.stats()["gen_cancelled"]
        self.assertEqual(self.srv.get("/gen?n=3"), (200, b"gen 0\ngen 1\ngen 2\n"))
        self.assertEqual(self.srv.stats()["gen_cancelled"], before)

    def test_gen_client_leaves(self):
        before = self.srv.stats()
        c = self.conn()
        c.send(req(b"GET /gen HTTP/1.1"))
        self.assertEqual(c.head()[1], 200)
        c.until(b"gen 2\n")
        c.close()
        after = wait_until(lambda: (lambda s: s if s["gen_cancelled"] > before["gen_cancelled"] else None)(
            self.srv.stats()), 3)
        self.assertIsNotNone(after, "the generator was not closed early when the client left")
        self.assertEqual(after["gen_cancelled"], before["gen_cancelled"] + 1)
        self.assertGreater(after["peer_gone"], before["peer_gone"])

    @staticmethod
    def events(text):
        out = []
        for block in text.split("\n\n"):
            ev = {}
            for line in block.split("\n"):
                if line and not line.startswith(":"):
                    k, _, v = line.partition(":")
                    ev[k] = v[1:] if v.startswith(" ") else v
            if ev:
                out.append(ev)
        return out

    def test_sse(self):
        c, r = self.exchange(req(b"GET /sse?n=3&ms=100 HTTP/1.1"))
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers.get("content-type", "").startswith("text/event-stream"))
        self.assertIn("no-cache", r.headers.get("cache-control", ""))
        self.assertEqual(self.events(r.body.decode()),
                         [{"id": str(i), "event": "tick", "data": "count %d" % i} for i in range(3)])
        self.assert_hello(c)

    def test_sse_keepalive_comment(self):
        c, r = self.exchange(req(b"GET /sse?n=2&ms=1000 HTTP/1.1"))   # sse keep-alive: 200 ms
        lines = r.body.decode().split("\n")
        self.assertGreaterEqual(sum(1 for l in lines if l.startswith(":")), 2, r.body)
        self.assertEqual(len(self.events(r.body.decode())), 2)

    def test_curl(self):
        curl = shutil.which("curl")
        if not curl:
            self.skipTest("no curl")
        base = "http://%s:%d" % (HOST, self.port)

        def run(*args):
            p = subprocess.run([curl, "-sS", "-N", "--max-time", "10", *args], capture_output=True, timeout=15)
            self.assertEqual(p.returncode, 0, p.stderr)
            return p.stdout
        self.assertEqual(run(base + "/stream"), b"".join(b"chunk %d\n" % i for i in range(10)))
        self.assertIn(b"data: count 2", run(base + "/sse?n=3&ms=50").replace(b"data:count", b"data: count"))
        out = run("--http1.0", "-i", base + "/stream")
        head, _, body = out.partition(b"\r\n\r\n")
        self.assertNotIn(b"chunked", head.lower())
        self.assertEqual(body, b"".join(b"chunk %d\n" % i for i in range(10)))
        self.assertEqual(run("--http1.0", base + "/hello"), b"hello\n")


class Timeouts(ServerCase):
    """Header 1 s, idle 1.5 s, body 1 s, write 1 s, handler 1.5 s: each never
    early, late by 3 s at most."""

    def drop_time(self, c, t0, trickle=None, limit=8.0):
        """Seconds from @t0 until the server closes @c (sending @trickle every
        200 ms meanwhile); the answer it gave first, if any."""
        end = t0 + limit
        while time.monotonic() < end:
            ready, _, _ = select.select([c.sock], [], [], 0.2)
            try:
                if ready:
                    data = c.sock.recv(1 << 16)
                    if not data:
                        break
                    c.buf += data
                elif trickle:
                    c.send(trickle)
            except (ConnectionResetError, BrokenPipeError):
                break
        dt = time.monotonic() - t0
        self.assertLess(dt, limit, "never dropped")
        # The status of what the server said before closing, if anything.
        return dt, int(c.buf.split(b" ")[1]) if c.buf.startswith(b"HTTP/1.1 ") else c.buf or None

    def assert_dropped(self, dt, answer, low, status):
        self.assertGreaterEqual(dt, low, "dropped early")
        self.assertLessEqual(dt, low + 3.0, "dropped late")
        self.assertIn(answer, (None, status))

    def test_slowloris_header_timeout(self):
        c = self.conn()
        t0 = time.monotonic()
        c.send(b"GET /hello HTTP/1.1\r\nX")
        dt, answer = self.drop_time(c, t0, trickle=b"x")
        self.assert_dropped(dt, answer, 1.0, 408)
        self.assert_hello()

    def test_idle_keep_alive_timeout(self):
        c = self.conn()
        t0 = time.monotonic()
        self.assert_hello(c)
        dt, answer = self.drop_time(c, t0)
        self.assertIsNone(answer)
        self.assert_dropped(dt, None, 1.5, None)

    def test_body_timeout(self):
        c = self.conn()
        t0 = time.monotonic()
        c.send(req(b"POST /echo HTTP/1.1", b"Content-Length: 100", body=b"0123456789"))
        dt, answer = self.drop_time(c, t0)
        self.assert_dropped(dt, answer, 1.0, 408)
        self.assert_hello()

    def test_handler_timeout(self):
        c = self.conn()
        t0 = time.monotonic()
        c.send(req(b"GET /slow?ms=10000 HTTP/1.1"))
        c.sock.settimeout(10)
        r = c.response()
        dt = time.monotonic() - t0
        self.assertEqual(r.status, 503)
        self.assertGreaterEqual(dt, 1.5)
        self.assertLessEqual(dt, 4.5)
        self.assert_hello()

    def test_write_timeout(self):
        before = self.srv.stats()["timeouts"]
        c = self.conn(rcvbuf=4096)
        t0 = time.monotonic()
        c.send(req(b"GET /big-stream HTTP/1.1"))
        time.sleep(0.3)
        t1 = time.monotonic()
        self.assert_hello()                   # the server serves others meanwhile
        self.assertLess(time.monotonic() - t1, 1.0)
        ok = wait_until(lambda: self.srv.stats()["timeouts"] > before, 6, step=0.1)
        dt = time.monotonic() - t0
        self.assertTrue(ok, "a client that never reads was not dropped")
        self.assertGreaterEqual(dt, 1.0)
        self.assertLessEqual(dt, 4.5)
        # What was sent ends without the last chunk: the stream was cut off.
        c.sock.settimeout(5)
        data = b""
        try:
            while True:
                d = c.sock.recv(1 << 20)
                if not d:
                    break
                data += d
        except ConnectionResetError:
            pass
        self.assertFalse(data.endswith(b"\r\n0\r\n\r\n"))


class ConnectionLimit(ServerCase):
    opts = ["--max-connections", "50"]

    def setUp(self):
        # Connections of the test before, the server may not have seen go yet.
        self.assertTrue(wait_until(lambda: self.srv.stats()["open"] <= 1, 5), "connections linger")
        time.sleep(0.1)     # and the one that asked is gone too

    def test_idle_reaped_for_new_client(self):
        for _ in range(50):
            self.assert_hello(self.conn())
        t0 = time.monotonic()
        self.assertEqual(self.srv.get("/hello"), (200, b"hello\n"))
        self.assertLess(time.monotonic() - t0, 1.5)
        self.assertGreaterEqual(self.srv.stats()["idle_reaped"], 1)

    def test_limit_holds_max_connections(self):
        # 50 connections that have not spoken yet, and no 51st: none is
        # closed "to make room", each gets its answer.
        before = self.srv.stats()["idle_reaped"]
        time.sleep(0.1)
        conns = [self.conn() for _ in range(50)]
        time.sleep(0.2)
        statuses = []
        for c in conns:
            c.send(req(b"GET /hello HTTP/1.1"))
            r = c.response()
            statuses.append(r and r.status)
        self.assertEqual(statuses, [200] * 50, "None: closed without an answer")
        # Asking for /stats takes a connection too: make room first.
        for c in conns:
            c.close()
        time.sleep(0.2)
        self.assertEqual(self.srv.stats()["idle_reaped"], before)

    def test_busy_limit_waits_for_one_to_end(self):
        self.busy_limit(b"Connection: close")

    def test_busy_limit_waits_for_one_to_idle(self):
        # The 50 stay open, idle once answered: one is reaped for the 51st.
        self.busy_limit(b"X-Keep: alive")

    def busy_limit(self, field):
        conns = []
        t0 = time.monotonic()
        for _ in range(50):
            conns.append(self.conn(timeout=10))
            conns[-1].send(req(b"GET /slow?ms=1500 HTTP/1.1", field))
        time.sleep(0.3)
        extra = self.conn(timeout=5)
        extra.send(req(b"GET /hello HTTP/1.1"))
        cpu0, w0 = self.srv.cpu_seconds(), time.monotonic()
        early, _, _ = select.select([extra.sock], [], [], t0 + 1.4 - w0)
        cpu = (self.srv.cpu_seconds() - cpu0) / (time.monotonic() - w0)
        statuses = []
        for c in conns:
            r = c.response()
            statuses.append(r and r.status)
        self.assertEqual(statuses, [200] * 50, "None: a busy connection closed without an answer")
        self.assertFalse(early, "the 51st connection was served before any of the 50 ended")
        self.assertLess(cpu, 0.2, "the server spins at the connection limit")
        r = extra.response()
        dt = time.monotonic() - t0
        self.assertEqual((r.status, r.body), (200, b"hello\n"))
        self.assertLessEqual(dt, 5.0)


class ManyConnections(ServerCase):
    # 60 s idle (the default: 2,000 idle connections must stay), and 2 s
    # for a head or a body read. A reset is normally seen at once, through
    # the connection's multishot receive; but the kernel can lose the final
    # event of a multishot receive that races with the data before it (here
    # 6.18: about one run in five lost a reset or two among the 1,000;
    # liburing issue #1549 shows the same race for EOF), and then only the
    # server's own timeouts reap the connection - which is what they are
    # for. The test checks that nothing outlives them.
    opts = ["--header-timeout-ms", "2000", "--body-timeout-ms", "2000"]

    @classmethod
    def setUpClass(cls):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if hard < 5000:
            raise unittest.SkipTest("RLIMIT_NOFILE hard limit %d < 5000" % hard)
        super().setUpClass()

    def test_2000_idle_keep_alive(self):
        conns = [Conn(self.port, timeout=10) for _ in range(2000)]
        try:
            for c in conns:
                c.send(req(b"GET /hello HTTP/1.1"))
            for c in conns:
                self.assertEqual(c.response().status, 200)
            for _ in range(20):
                t0 = time.monotonic()
                self.assertEqual(self.srv.get("/hello"), (200, b"hello\n"))
                self.assertLess(time.monotonic() - t0, 1.0)
            self.assertGreaterEqual(self.srv.stats()["open"], 2000)
            self.assert_hello(conns[0])
            self.assert_hello(conns[-1])
        finally:
            for c in conns:
                c.close()

    def test_1000_resets_mid_request(self):
        for i in range(1000):
            c = Conn(self.port)
            if i % 2:
                c.send(b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Half")
            else:
                c.send(req(b"POST /echo HTTP/1.1", b"Content-Length: 100", body=b"x" * 50))
            c.reset()
        self.assertEqual(self.srv.get("/hello"), (200, b"hello\n"))
        ok = wait_until(lambda: self.srv.stats()["open"] <= 1, 5, step=0.1)
        self.assertTrue(ok, "open connections after 1000 resets: %r" % self.srv.stats())


class Shutdown(unittest.TestCase):
    def test_in_flight_request_completes(self):
        srv = Server()
        try:
            busy = Conn(srv.port)
            self.addCleanup(busy.close)
            busy.send(req(b"GET /slow?ms=500 HTTP/1.1"))
            idle = Conn(srv.port)
            self.addCleanup(idle.close)
            idle.send(req(b"GET /hello HTTP/1.1"))
            self.assertEqual(idle.response().status, 200)
            time.sleep(0.1)
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            try:
                late = Conn(srv.port, timeout=2)
                self.addCleanup(late.close)
                late.send(req(b"GET /hello HTTP/1.1"))
                self.assertIsNone(late.response(), "a new connection was served during shutdown")
            except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError):
                pass
            self.assertTrue(idle.closed(1.0), "an idle connection stays open at shutdown")
            r = busy.response()
            self.assertEqual((r.status, r.body), (200, b"slept\n"))
            code = srv.proc.wait(3)
            self.assertEqual(code, 0)
            self.assertLess(time.monotonic() - t0, 3.0)
        finally:
            srv.stop()

    def test_shutdown_timeout_cancels(self):
        srv = Server("--shutdown-timeout-ms", "500")
        try:
            busy = Conn(srv.port, timeout=10)
            self.addCleanup(busy.close)
            busy.send(req(b"GET /slow?ms=60000 HTTP/1.1"))
            time.sleep(0.2)
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            code = srv.proc.wait(6)
            dt = time.monotonic() - t0
            self.assertEqual(code, 0)
            self.assertGreaterEqual(dt, 0.5, "in-flight request not given its grace")
            self.assertLessEqual(dt, 3.0)
            try:
                r = busy.response()
            except ConnectionResetError:
                r = None
            self.assertTrue(r is None or r.status != 200, r)
        finally:
            srv.stop()


def table():
    print("| input | status |\n|---|---|")
    for what, _, statuses in REJECTED:
        s = " or ".join("close" if x is None else str(x) for x in sorted(statuses, key=str))
        print("| %s | %s |" % (what.replace("|", "\\|"), s))


def main():
    global SERVER
    ap = argparse.ArgumentParser()
    ap.add_argument("--server")
    ap.add_argument("--table", action="store_true")
    args, rest = ap.parse_known_args()
    if args.table:
        return table()
    if not args.server:
        ap.error("--server is required")
    SERVER = os.path.abspath(args.server)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
