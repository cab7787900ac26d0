#!/usr/bin/env python3
"""The http-client sink against a small HTTP server in Python that fails
attempts on purpose: `load-sim | http-client` with retries. Every event
must reach the server under its own Idempotency-Key (the event's id),
those the server keeps failing must reach the error output with the
status once the retries are spent, and a 4xx must not be retried.

Run as: test_http_client.py NAME (see TESTS)."""

import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading

import msgpack
import zmq

from flowd_harness import run, wait_for
from test_checkpoint_apps import app_path

COUNT = 3000
RETRIES = 3


def always_500(key):
    return int(key) % 97 == 0


def always_400(key):
    return int(key) % 101 == 0 and not always_500(key)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.attempts = {}  # key -> attempts
        self.ok = {}  # key -> body of the 2xx attempt
        self.bad = []  # requests that were not as they should be
        threading.Thread(target=self.serve_forever, daemon=True).start()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        srv = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        key = self.headers.get("Idempotency-Key")
        if (self.headers.get("Content-Type") != "application/json"
                or not key or not key.isdigit()):
            with srv.lock:
                srv.bad.append((dict(self.headers), body))
            return self.answer(400)
        with srv.lock:
            n = srv.attempts[key] = srv.attempts.get(key, 0) + 1
        if always_500(key):
            return self.answer(500)
        if always_400(key):
            return self.answer(400)
        if int(key) % 3 == 0 and n == 1:
            return self.answer(503)
        if int(key) % 5 == 0 and n <= 2:
            # No answer at all: the connection is cut.
            self.close_connection = True
            self.connection.shutdown(2)
            return
        with srv.lock:
            if key in srv.ok:
                srv.bad.append(("twice", key))
            srv.ok[key] = json.loads(body)
        self.answer(200)


def retries_and_errors():
    tmp = tempfile.mkdtemp(prefix="httpclient")
    srv = Server()
    procs = []
    pull = zmq.Context.instance().socket(zmq.PULL)
    pull.setsockopt(zmq.LINGER, 0)
    errors = []
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/ingest"
        ep, err_ep = f"ipc://{tmp}/a", f"ipc://{tmp}/err"
        log = open(os.path.join(tmp, "http.log"), "w")
        procs.append(subprocess.Popen(
            [app_path("http-client"), f"--url={url}",
             f"--max-retries={RETRIES}", "--backoff=5ms", "--window=8",
             f"--flow.input={ep}", f"--flow.error-output={err_ep}",
             "--flow.eos-exit=1"], stdout=log, stderr=subprocess.STDOUT))
        pull.connect(err_ep)
        procs.append(subprocess.Popen(
            [app_path("load-sim"), f"--count={COUNT}", "--seed=1",
             "--rate=0", f"--flow.output={ep}"]))

        def collect():
            while pull.poll(200):
                frame = msgpack.unpackb(pull.recv(), raw=False)
                for ev in frame[4]:
                    errors.append((ev[0], msgpack.unpackb(ev[5], raw=False)))
            return procs[0].poll() is not None
        wait_for("the sink's exit", collect, timeout=180, interval=0.01)
        collect()
        log.close()
        for p in procs:
            assert p.wait(30) == 0, p.args
        with open(os.path.join(tmp, "http.log")) as f:
            text = f.read()
        assert not srv.bad, srv.bad[:3]
        keys = set(srv.attempts)
        assert keys == {str(i) for i in range(1, COUNT + 1)}, (
            f"{len(keys)} distinct keys, want {COUNT}")
        fail500 = {k for k in keys if always_500(k)}
        fail400 = {k for k in keys if always_400(k)}
        assert set(srv.ok) == keys - fail500 - fail400, len(srv.ok)
        for k in fail500:
            assert srv.attempts[k] == RETRIES + 1, (k, srv.attempts[k])
        for k in fail400:
            assert srv.attempts[k] == 1, (k, srv.attempts[k])
        for k in keys - fail500 - fail400:
            want = 3 if int(k) % 5 == 0 else 2 if int(k) % 3 == 0 else 1
            assert srv.attempts[k] == want, (k, srv.attempts[k], want)
        by_id = {str(i): p for i, p in errors}
        assert len(errors) == len(by_id) == len(fail500) + len(fail400), (
            len(errors), len(fail500), len(fail400))
        for k in fail500:
            assert f"answered 500 after {RETRIES + 1} attempt" in \
                by_id[k]["error"], by_id[k]
            assert by_id[k]["event"]["seq"] >= 1
        for k in fail400:
            assert "answered 400 after 1 attempt" in by_id[k]["error"], \
                by_id[k]
        sample = srv.ok["1"]
        assert sample["type"] and sample["account"] >= 0, sample
        posted = COUNT - len(fail500) - len(fail400)
        assert f"{posted} events posted, {len(errors)} failed" in text, text
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(30)
        pull.close(0)
        srv.shutdown()
        srv.server_close()
        shutil.rmtree(tmp, ignore_errors=True)


def batches():
    """--batch-size posts arrays, keyed FIRST-LAST."""
    tmp = tempfile.mkdtemp(prefix="httpclient")
    got, lock = {}, threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                got[self.headers["Idempotency-Key"]] = json.loads(body)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    procs = []
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/"
        ep = f"ipc://{tmp}/a"
        procs.append(subprocess.Popen(
            [app_path("http-client"), f"--url={url}", "--batch-size=50",
             f"--flow.input={ep}", "--flow.eos-exit=1"]))
        procs.append(subprocess.Popen(
            [app_path("load-sim"), "--count=1000", "--seed=1", "--rate=0",
             f"--flow.output={ep}"]))
        for p in procs:
            assert p.wait(120) == 0, p.args
        n = 0
        for key, arr in got.items():
            first, last = (int(x) for x in key.split("-")) if "-" in key \
                else (int(key), int(key))
            assert isinstance(arr, list) and 1 <= len(arr) <= 50, key
            assert last - first + 1 == len(arr), (key, len(arr))
            n += len(arr)
        assert n == 1000, n
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(30)
        srv.shutdown()
        srv.server_close()
        shutil.rmtree(tmp, ignore_errors=True)


TESTS = {
    "retries_and_errors": retries_and_errors,
    "batches": batches,
}

if __name__ == "__main__":
    run(TESTS)
