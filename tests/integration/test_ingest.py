#!/usr/bin/env python3
"""The http and tcp sources (docs/apps.md "http", "tcp"): through flowd,
exact counts of events POSTed as NDJSON or sent as LF or L4 frames, the
refusals (413, 400 with line and column, 401, 429 with Retry-After when
the consumer is stopped and the bound is small); and, with the small
coordinator of test_checkpoint_apps.py instead of flowd, kill -9 of the
http source after its 202 answers and a restore from the last complete
checkpoint: every acknowledged event is counted exactly once.

Run as: test_ingest.py NAME (see TESTS)."""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from flowd_harness import Flowd, flowctl, run, wait_for
from test_checkpoint_apps import Coordinator, app_path, has_epoch_flag


def post(url, body, ctype="application/x-ndjson", headers=None, timeout=30):
    """POSTs to an ingest source (not to flowd): (status, headers, body)."""
    h = {"Content-Type": ctype}
    h.update(headers or {})
    req = urllib.request.Request(url, data=body, method="POST", headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def ndjson(ids):
    return b"".join(b'{"id": %d, "account": %d, "note": "x"}\n' % (i, i % 7)
                    for i in ids)


def source_url(f, stream, label):
    """The url the ingest source reports, as REST shows it."""
    def url():
        for i in f.instances(stream):
            if i["label"] == label and i.get("url"):
                return i["url"]
        return None
    wait_for(f"{label}'s url in REST", lambda: url() is not None, timeout=30)
    return url()


def deploy(f, name, definition):
    f.create(name, definition)
    f.deploy(name)
    f.wait_status(name, "deployed", timeout=60)


def http_ndjson_exact_count():
    with Flowd() as f:
        deploy(f, "in", "http --port=0 --path-pattern=/ingest | "
                        "counter --name=ingested")
        url = source_url(f, "in", "http")
        assert url.startswith("http://127.0.0.1:") and url.endswith("/ingest")
        # flowctl stream info shows it too.
        rc, out, err = flowctl(f, "stream", "info", "in")
        assert rc == 0, err
        assert f"url of http.0: {url}" in out, out
        for b in range(100):
            st, _, body = post(url, ndjson(range(b * 100, b * 100 + 100)))
            assert st == 202, (st, body)
            assert json.loads(body) == {"accepted": 100}, body
        wait_for("10,000 counted", lambda: f.counter("ingested") >= 10000,
                 timeout=60)
        time.sleep(1.5)
        assert f.counter("ingested") == 10000, f.counter("ingested")


def http_refusals():
    with Flowd() as f:
        deploy(f, "in", "http --path-pattern=/in --max-body=1000 "
                        "--token=s3cret | counter --name=ok")
        url = source_url(f, "in", "http")
        auth = {"Authorization": "Bearer s3cret"}
        st, _, _ = post(url, b'{"id": 1}\n')
        assert st == 401, st
        st, _, _ = post(url, b'{"id": 1}\n',
                        headers={"Authorization": "Bearer wrong"})
        assert st == 401, st
        st, _, body = post(url, b"x" * 1001, "text/plain", headers=auth)
        assert st == 413, (st, body)
        st, _, body = post(url, b'{"id": 1}\n{"id": 2}\n{"id" 3}\n',
                           headers=auth)
        assert st == 400, (st, body)
        e = json.loads(body)
        assert (e["line"], e["column"]) == (3, 7), e
        st, _, body = post(url, b'[{"id": 1},\n {"id": 2,,}]',
                           "application/json", headers=auth)
        assert st == 400, (st, body)
        e = json.loads(body)
        assert (e["line"], e["column"]) == (2, 11), e
        st, _, _ = post(url, b"1", "application/xml", headers=auth)
        assert st == 415, st
        st, _, _ = post(url + "x", b"1", "application/json", headers=auth)
        assert st == 404, st
        # What is accepted is counted, and nothing refused is.
        st, _, _ = post(url, b'[{"id": 1}, {"id": 2}, 3]', "application/json",
                        headers=auth)
        assert st == 202, st
        st, _, _ = post(url, b"some text", "text/plain", headers=auth)
        assert st == 202, st
        st, _, _ = post(url, b"\x81\xa2id\x05", "application/msgpack",
                        headers=auth)
        assert st == 202, st
        wait_for("5 counted", lambda: f.counter("ok") >= 5, timeout=30)
        time.sleep(1.5)
        assert f.counter("ok") == 5, f.counter("ok")
        # The source's own figures, as REST shows them.
        want = {"requests": 10, "events": 5, "rejects": 7}

        def figures():
            i = [i for i in f.instances("in") if i["label"] == "http"][0]
            return {k: (i.get("figures") or {}).get(k) for k in want}
        wait_for("the http source's figures", lambda: figures() == want,
                 timeout=30)


def http_429_when_consumer_stopped():
    with Flowd() as f:
        deploy(f, "in", "http --max-pending=65536 | counter --name=slow")
        url = source_url(f, "in", "http")
        sink = [i for i in f.instances("in") if i["label"] == "counter"][0]
        pid = sink["pid"]
        os.kill(pid, signal.SIGSTOP)
        try:
            got = None
            accepted = 0
            payload = "y" * 900
            for b in range(5000):
                body = b"".join(b'{"id": %d, "p": "%s"}\n'
                                % (b * 100 + k, payload.encode())
                                for k in range(100))
                st, h, _ = post(url, body)
                if st == 202:
                    accepted += 100
                    continue
                got = (st, h.get("Retry-After"))
                break
            assert got is not None, "never refused while the consumer stopped"
            assert got[0] == 429 and got[1] == "1", got
        finally:
            os.kill(pid, signal.SIGCONT)
        # The consumer goes on: everything accepted is counted, and
        # requests are taken again.
        wait_for("the backlog counted", lambda: f.counter("slow") >= accepted,
                 timeout=120)
        st, _, _ = post(url, b'{"id": -1}\n')
        assert st == 202, st
        wait_for("one more", lambda: f.counter("slow") >= accepted + 1,
                 timeout=60)
        time.sleep(1.5)
        assert f.counter("slow") == accepted + 1, (f.counter("slow"), accepted)


def tcp_send(url, data):
    host, port = url[len("tcp://"):].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        # The source closes its side once what it read is durable.
        s.settimeout(60)
        while s.recv(4096):
            pass


def tcp_count(decoder, data, n):
    with Flowd() as f:
        deploy(f, "t", f"tcp --decoder={decoder} | counter --name=frames")
        url = source_url(f, "t", "tcp")
        assert url.startswith("tcp://127.0.0.1:"), url
        tcp_send(url, data)
        wait_for(f"{n} frames", lambda: f.counter("frames") >= n, timeout=60)
        time.sleep(1.5)
        assert f.counter("frames") == n, f.counter("frames")


def tcp_lf_exact_count():
    tcp_count("LF", b"".join(b"line %d\n" % i for i in range(10000))
              + b"partial, never counted", 10000)


def tcp_l4_exact_count():
    frames = [b"frame %d" % i + b"\n\r\x00" * (i % 5) for i in range(10000)]
    tcp_count("L4", b"".join(struct.pack(">I", len(fr)) + fr for fr in frames),
              10000)


class IngestCoordinator(Coordinator):
    """The small coordinator with the http source as the one that takes
    checkpoints, and the committed per-value totals of a field-value
    counter."""

    def __init__(self, *a, **kw):
        self.values = {}  # ckpt -> {value: cumulative total}
        super().__init__(*a, **kw)

    def handle(self, ident, m):
        if m.get("t") == "hello" and m.get("label") == "http":
            with self.lock:
                self.peers[("load-sim", 0)] = ident
        if m.get("t") == "counter" and "ckpt" in m:
            with self.lock:
                self.values.setdefault(m["ckpt"], {}).update(
                    m.get("values") or {})
        if m.get("t") == "hello" and m.get("label") == "http":
            with self.lock:
                self.peers[("http", 0)] = ident
            return
        super().handle(ident, m)

    def committed_values(self, upto):
        out = {}
        with self.lock:
            for n in sorted(self.values):
                if n <= upto:
                    out.update(self.values[n])
        return out


class IngestPipeline:
    """http | field-value-counter --field-name=id, under exactly-once."""

    def __init__(self, tmp, control, epoch, restore=None):
        self.procs = {}
        self.logs = []
        common = [f"--flow.control={control}", "--flow.stream=s",
                  "--flow.guarantee=exactly-once", "--flow.upstreams=1",
                  f"--flow.checkpoint-dir={tmp}/ck", "--flow.drain-ms=2000"]
        if has_epoch_flag():
            common.append(f"--flow.epoch={epoch}")
        apps = {
            "field-value-counter": ["--field-name=id", "--name=ids",
                                    f"--flow.input=ipc://{tmp}/a{epoch}",
                                    f"--flow.instance-dir={tmp}/sink"],
            "http": ["--port=0", "--path-pattern=/in", "--segment-size=65536",
                     f"--flow.output=ipc://{tmp}/a{epoch}",
                     f"--flow.instance-dir={tmp}/src"],
        }
        for label, args in apps.items():
            extra = []
            if restore:
                extra = [f"--flow.restore={tmp}/ck/{restore}/s.{label}.0.snap"]
            log = open(os.path.join(tmp, f"{label}.{epoch}.log"), "w+")
            self.logs.append(log)
            self.procs[label] = subprocess.Popen(
                [app_path(label)] + args + common + extra
                + [f"--flow.label={label}"],
                stdout=log, stderr=subprocess.STDOUT)
        self.src_log = self.logs[-1]

    def url(self):
        def find():
            self.src_log.flush()
            with open(self.src_log.name) as fh:
                for line in fh:
                    if "listening on " in line:
                        return line.split("listening on ")[1].strip()
            return None
        wait_for("the http source listening", lambda: find() is not None,
                 timeout=30)
        return find()

    def kill(self, label):
        p = self.procs[label]
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        p.wait(30)

    def close(self):
        for label in self.procs:
            self.kill(label)
        for log in self.logs:
            log.close()


def http_kill_restore_exactly_once():
    tmp = tempfile.mkdtemp(prefix="ingest-ck")
    os.makedirs(tmp + "/src")
    os.makedirs(tmp + "/sink")
    co = IngestCoordinator(f"ipc://{tmp}/ctl", expect=2)
    acked = set()
    try:
        pl = IngestPipeline(tmp, f"ipc://{tmp}/ctl", 1)
        try:
            url = pl.url()
            wait_for("a first checkpoint", lambda: co.last_complete() > 0,
                     timeout=60)
            n = 0
            # POST until a few checkpoints have completed meanwhile, then
            # a last burst that no checkpoint covers before the kill.
            first = co.last_complete()
            while co.last_complete() < first + 3 or n < 3000:
                ids = range(n, n + 100)
                st, _, _ = post(url, ndjson(ids))
                assert st == 202, st
                acked.update(ids)
                n += 100
                assert n < 2000000, "checkpoints do not complete"
            for _ in range(10):
                ids = range(n, n + 100)
                st, _, _ = post(url, ndjson(ids))
                assert st == 202, st
                acked.update(ids)
                n += 100
            pl.kill("http")
            time.sleep(0.3)
            pl.kill("field-value-counter")
        finally:
            pl.close()
        last = co.last_complete()
        before = co.committed_values(last)
        assert 0 < len(before) < len(acked), (len(before), len(acked))
        assert all(v == 1 for v in before.values()), "a duplicate before"

        co.close()
        co = IngestCoordinator(f"ipc://{tmp}/ctl", first_id=co.next_id,
                               expect=2)
        pl = IngestPipeline(tmp, f"ipc://{tmp}/ctl", 2, restore=last)
        try:
            want = {str(i) for i in acked}
            wait_for("every acknowledged id committed",
                     lambda: set(co.committed_values(co.last_complete()))
                     >= want, timeout=120)
        finally:
            pl.close()
        # Segments every complete checkpoint is past were deleted.
        segs = sorted(os.listdir(tmp + "/src/ingest-log"))
        assert segs and segs[0] != "ingest-%020d.log" % 0, segs[:3]
        got = co.committed_values(co.last_complete())
        dups = {k: v for k, v in got.items() if v != 1}
        assert not dups, f"{len(dups)} ids counted more than once"
        assert set(got) == want, (len(got), len(want))
        print(f"{len(acked)} acknowledged, {len(before)} committed before "
              f"the kill (checkpoint {last}), all once after the restore")
    finally:
        co.close()
        shutil.rmtree(tmp, ignore_errors=True)


def raw_http(url, data, read=True):
    """Sends raw bytes to the source's port; returns what it answered."""
    host, port = url[len("http://"):].split("/", 1)[0].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(data)
        if not read:
            return b""
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b


def http_group_commit_and_hostile_input():
    """Without flowd: concurrent clients share fsyncs, hostile bytes are
    refused without harm, and what was accepted is counted exactly."""
    tmp = tempfile.mkdtemp(prefix="ingest-gc")
    procs = []
    try:
        os.makedirs(tmp + "/src")
        sink = subprocess.Popen(
            [app_path("counter"), "--name=n", f"--flow.input=ipc://{tmp}/a",
             "--flow.eos-exit=1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        procs.append(sink)
        log = open(tmp + "/http.log", "w+")
        src = subprocess.Popen(
            [app_path("http"), "--path-pattern=/in",
             f"--flow.output=ipc://{tmp}/a", f"--flow.instance-dir={tmp}/src",
             "--flow.metrics-json=m.json"],
            stdout=log, stderr=subprocess.STDOUT)
        procs.append(src)

        def find():
            log.flush()
            with open(log.name) as fh:
                for line in fh:
                    if "listening on " in line:
                        return line.split("listening on ")[1].strip()
            return None
        wait_for("the http source listening", lambda: find() is not None,
                 timeout=30)
        url = find()

        import threading
        errors = []

        def client(c):
            for r in range(10):
                base = (c * 10 + r) * 50
                st, _, _ = post(url, ndjson(range(base, base + 50)))
                if st != 202:
                    errors.append(st)
        threads = [threading.Thread(target=client, args=(c,))
                   for c in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors

        # Hostile bytes: each is refused and the source goes on.
        huge = b"POST /in HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n"
        assert raw_http(url, huge).startswith(b"HTTP/1.1 431 "), "431"
        assert raw_http(url, b"\x00\x01\x02 \xff\r\n\r\n").startswith(
            b"HTTP/1.1 400 ")
        assert raw_http(url, b"POST /in HTTP/1.1\r\nContent-Length: 10\r\n"
                        b"Content-Type: text/plain\r\n\r\nabc") == b""
        assert raw_http(url, b"POST /in HTTP/3.0\r\n\r\n").startswith(
            b"HTTP/1.1 505 ")
        raw_http(url, b"POST /in HTTP/1.1\r\nContent-Le", read=False)
        # Two requests on one connection, answered in order.
        two = (b"POST /in HTTP/1.1\r\nContent-Type: text/plain\r\n"
               b"Content-Length: 1\r\n\r\nx") * 2
        out = raw_http(url, two)
        assert out.count(b"HTTP/1.1 202 ") == 2, out
        st, _, _ = post(url, b"last", "text/plain")
        assert st == 202, st

        src.send_signal(signal.SIGTERM)
        assert src.wait(60) == 0
        with open(tmp + "/src/m.json") as fh:
            mj = json.load(fh)
        figs = mj["figures"]
        events = 16 * 10 * 50 + 3
        assert figs["events"] == events, figs
        assert figs["rejects"] == 3, figs
        # Group commit: fewer fsyncs than accepted requests.
        assert 0 < figs["syncs"] < 16 * 10, figs
        # What reaches the sink is counted exactly by the tests through
        # flowd; a stop may come before the last durable events are
        # emitted (they stay in the log), so only the bound is checked.
        assert mj["out"] <= events, (mj["out"], events)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


def tcp_backpressure_exact_count():
    """A stopped consumer and a small bound: the source stops reading (the
    sender blocks) instead of queueing or dropping; after SIGCONT every
    frame is counted once."""
    n = 200000
    with Flowd() as f:
        deploy(f, "t", "tcp --max-pending=65536 --segment-size=65536 | "
                       "counter --name=frames")
        url = source_url(f, "t", "tcp")
        sink = [i for i in f.instances("t") if i["label"] == "counter"][0]
        os.kill(sink["pid"], signal.SIGSTOP)
        import threading
        sent = threading.Event()
        data = b"".join(b"frame number %d of the backlog\n" % i
                        for i in range(n))
        t = threading.Thread(target=lambda: (tcp_send(url, data), sent.set()))
        try:
            t.start()
            # The sender is held back while the consumer is stopped: its
            # 6 MB cannot all be taken within a 64 KiB bound.
            assert not sent.wait(2), "the source took everything"
        finally:
            os.kill(sink["pid"], signal.SIGCONT)
        t.join(120)
        assert sent.is_set()
        wait_for(f"{n} frames", lambda: f.counter("frames") >= n, timeout=120)
        time.sleep(1.5)
        assert f.counter("frames") == n, f.counter("frames")


TESTS = {
    "http_ndjson_exact_count": http_ndjson_exact_count,
    "http_refusals": http_refusals,
    "http_429_when_consumer_stopped": http_429_when_consumer_stopped,
    "http_kill_restore_exactly_once": http_kill_restore_exactly_once,
    "http_group_commit_and_hostile_input": http_group_commit_and_hostile_input,
    "tcp_lf_exact_count": tcp_lf_exact_count,
    "tcp_l4_exact_count": tcp_l4_exact_count,
    "tcp_backpressure_exact_count": tcp_backpressure_exact_count,
}

if __name__ == "__main__":
    run(TESTS)
