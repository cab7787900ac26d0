#!/usr/bin/python3
"""flowd's HTTP edge, driven with raw bytes over a socket: chunked request
bodies, limits answered with their status instead of a dropped connection,
and bytes in paths, queries and forms that are refused, never cut short.

Run one test: test_http_limits.py NAME; all: test_http_limits.py.
"""

import json
import re
import socket

from flowd_harness import Flowd, run

DEF = b'{"name":"%s","definition":"time | log"}'


def auth(f):
    """The Authorization header line for f's token, if it has one."""
    tok = getattr(f, "token", None)
    return b"Authorization: Bearer %s\r\n" % tok.encode() if tok else b""


def request(method, target, f, headers=b"", body=b""):
    """The bytes of one request with f's token."""
    return (b"%s %s HTTP/1.1\r\nHost: x\r\n" % (method, target) + auth(f) +
            headers + b"\r\n" + body)


def read_response(sock):
    """One response from sock: (status, headers dict, body). Fails when
    the connection closes before a whole response came."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before a response: %r" % data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a body"
        rest += chunk
    return status, hdrs, rest[:n]


def exchange(f, data, sock=None):
    """Sends data and reads one response, on sock or a new connection."""
    s = sock or socket.create_connection(("127.0.0.1", f.port), timeout=30)
    try:
        s.sendall(data)
        return read_response(s)
    finally:
        if sock is None:
            s.close()


def message(body):
    return json.loads(body)["message"]


def chunked(*parts):
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + \
        b"0\r\n\r\n"


def test_chunked_bodies():
    with Flowd() as f:
        body = DEF % b"c1"
        st, _, resp = exchange(f, request(
            b"POST", b"/streams/definitions", f,
            b"Content-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n",
            chunked(body[:7], body[7:20], body[20:])))
        assert st == 201, (st, resp)
        assert f.get("/streams/definitions/c1")["dslText"] == "time | log"

        # Extensions and trailers are read past; the connection stays
        # usable for the next request.
        s = socket.create_connection(("127.0.0.1", f.port), timeout=30)
        try:
            enc = b"%x;ext=1\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n" % (
                len(DEF % b"c2"), DEF % b"c2")
            st, hdrs, resp = exchange(f, request(
                b"POST", b"/streams/definitions", f,
                b"Content-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n", enc), s)
            assert st == 201, (st, resp)
            assert hdrs.get("connection") != "close", hdrs
            st, _, resp = exchange(
                f, request(b"GET", b"/streams/definitions/c2", f), s)
            assert st == 200 and json.loads(resp)["name"] == "c2", resp
        finally:
            s.close()

        # A form body, chunked.
        st, _, resp = exchange(f, request(
            b"POST", b"/streams/definitions", f,
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Transfer-Encoding: chunked\r\n",
            chunked(b"name=c3&defin", b"ition=time+%7C+log")))
        assert st == 201, (st, resp)
        assert f.get("/streams/definitions/c3")["dslText"] == "time | log"


def test_chunked_malformed():
    with Flowd() as f:
        hdr = (b"Content-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n")
        body = DEF % b"bad"
        for enc in [b"zz\r\n" + body + b"\r\n0\r\n\r\n",
                    b"%x\r\n%sXY0\r\n\r\n" % (len(body), body),
                    b"%x\n%s\r\n0\r\n\r\n" % (len(body), body),
                    b"-5\r\n" + body + b"\r\n0\r\n\r\n",
                    b"ffffffffffffffffff\r\n" + body]:
            st, hdrs, resp = exchange(
                f, request(b"POST", b"/streams/definitions", f, hdr, enc))
            assert st == 400, (enc, st, resp)
            assert "chunked" in message(resp), resp
            assert hdrs.get("connection") == "close", hdrs
        # Over the body limit, in chunks: 413 before the rest is sent.
        st, _, resp = exchange(f, request(
            b"POST", b"/streams/definitions", f, hdr,
            b"%x\r\n" % (2 * 1024 * 1024)))
        assert st == 413, (st, resp)
        # Both framings at once is ambiguous.
        st, _, _ = exchange(f, request(
            b"POST", b"/streams/definitions", f,
            hdr + b"Content-Length: %d\r\n" % len(body), chunked(body)))
        assert st == 400, st
        st, _, resp = exchange(f, request(
            b"POST", b"/streams/definitions", f,
            b"Transfer-Encoding: gzip\r\n", body))
        assert st == 501, (st, resp)
        assert f.get("/streams/definitions")["page"]["totalElements"] == 0


def test_header_over_limit():
    with Flowd() as f:
        for hdr in [b"X-Big: " + b"a" * 20000 + b"\r\n",
                    b"User-Agent: " + b"a" * 9000 + b"\r\n",
                    b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 1000)
                             for i in range(20))]:
            st, hdrs, resp = exchange(f, request(b"GET", b"/health", f, hdr))
            assert st == 431, (st, resp)
            assert "header" in message(resp), resp
        # A client still sending when refused gets the answer, not a
        # reset: flowd reads on after answering.
        st, _, resp = exchange(f, request(
            b"GET", b"/health", f, b"X-Huge: " + b"a" * 400000 + b"\r\n"))
        assert st == 431, (st, resp)
        st, _, resp = exchange(f, request(
            b"POST", b"/streams/definitions", f,
            b"Content-Type: application/json\r\n"
            b"Content-Length: %d\r\n" % (3 << 20), b"x" * (3 << 20)))
        assert st == 413, (st, resp)
        # Just under the limits is fine.
        st, _, _ = exchange(f, request(
            b"GET", b"/health", f, b"X-Big: " + b"a" * 8000 + b"\r\n"))
        assert st == 200, st


def test_uri_over_limit():
    with Flowd() as f:
        for target in [b"/health?" + b"a=b&" * 3000,
                       b"/streams/definitions/" + b"a" * 9000,
                       b"/streams/definitions/" + b"a" * 2000,
                       b"/streams/definitions?search=" + b"x" * 5000]:
            st, _, resp = exchange(f, request(b"GET", target, f))
            assert st == 414, (target[:40], st, resp)
        st, _, _ = exchange(f, request(b"GET", b"/health?" + b"a" * 1000, f))
        assert st == 200, st


def test_bad_utf8_path():
    with Flowd() as f:
        for target in [b"/streams/definitions/%ff%fe",
                       b"/streams/definitions/\xff\xfe",
                       b"/streams/definitions/%c0%af",
                       b"/streams/definitions/%ed%a0%80"]:
            st, _, resp = exchange(f, request(b"GET", target, f))
            assert st == 400, (target, st, resp)
            assert "UTF-8" in message(resp), resp
        # UTF-8 that is valid is a name like any other (not found here).
        st, _, resp = exchange(
            f, request(b"GET", b"/streams/definitions/%c3%a9t%c3%a9", f))
        assert st == 404, (st, resp)


def test_nul_in_paths():
    with Flowd() as f:
        for target in [b"/dashboard/%00..", b"/dashboard/index.html%00.js",
                       b"/dashboard/%00", b"/vendor/uplot/%00x"]:
            st, _, resp = exchange(f, request(b"GET", target, f))
            assert st == 404, (target, st, resp)
            assert not resp.startswith(b"<"), resp
        st, _, resp = exchange(
            f, request(b"GET", b"/streams/definitions/a%00b", f))
        assert st == 400, (st, resp)


def test_nul_in_form_fields():
    with Flowd() as f:
        form = b"Content-Type: application/x-www-form-urlencoded\r\n"
        for body in [b"name=c1%00x&definition=time+%7C+log",
                     b"name=c1&definition=time+%7C+log%00",
                     b"na%00me=c1&definition=time",
                     b"name=c1&definition=time\x00x",
                     b"name=c1%zz&definition=time"]:
            st, _, resp = exchange(f, request(
                b"POST", b"/streams/definitions", f,
                form + b"Content-Length: %d\r\n" % len(body), body))
            assert st == 400, (body, st, resp)
            assert "form field" in message(resp), resp
        assert f.get("/streams/definitions")["page"]["totalElements"] == 0
        # The same in a query string.
        for target in [b"/streams/definitions?search=a%00b",
                       b"/streams/definitions?sea%00rch=a",
                       b"/streams/definitions?search=%ff"]:
            st, _, resp = exchange(f, request(b"GET", target, f))
            assert st == 400, (target, st, resp)
            assert "query parameter" in message(resp), resp
        # A well-formed form still works.
        body = b"name=c1&definition=time+%7C+log"
        st, _, resp = exchange(f, request(
            b"POST", b"/streams/definitions", f,
            form + b"Content-Length: %d\r\n" % len(body), body))
        assert st == 201, (st, resp)
        assert re.search(r"time \| log",
                         f.get("/streams/definitions/c1")["dslText"])


TESTS = {
    "chunked_bodies": test_chunked_bodies,
    "chunked_malformed": test_chunked_malformed,
    "header_over_limit": test_header_over_limit,
    "uri_over_limit": test_uri_over_limit,
    "bad_utf8_path": test_bad_utf8_path,
    "nul_in_paths": test_nul_in_paths,
    "nul_in_form_fields": test_nul_in_form_fields,
}

if __name__ == "__main__":
    run(TESTS)
