#!/usr/bin/env python3
"""Checkpoints on the app side, without flowd: a small coordinator in
Python (a ROUTER socket speaking the control messages of docs/apps.md)
drives `load-sim | account-events | counter` under exactly-once, kills
account-events with SIGKILL mid-run, restarts the three from the last
complete checkpoint and checks that the committed count and the final
accounts equal those of a run without faults. Also: a torn or corrupt
snapshot file is refused at start.

Run as: test_checkpoint_apps.py NAME (see TESTS)."""

import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

import msgpack
import zmq

from flowd_harness import run, wait_for

COUNT = 200000
RATE = 20000
LABELS = ("load-sim", "account-events", "counter")
STREAM = "s"


def modules_dir():
    flowd = os.environ.get("FLOWD")
    if flowd:
        return os.path.join(os.path.dirname(os.path.dirname(flowd)), "modules")
    return os.path.join(os.path.dirname(__file__), "..", "..", "build",
                        "modules")


def app_path(name):
    return os.path.join(modules_dir(), "flow-" + name)


def test_sink_path():
    return os.path.join(os.path.dirname(modules_dir()), "tests", "runtime",
                        "flow-test-sink")


def has_epoch_flag():
    out = subprocess.run([app_path("counter"), "--help"],
                         capture_output=True, text=True, timeout=30).stdout
    return "--flow.epoch" in out


class Coordinator:
    """flowd's checkpoint coordinator, reduced to what the apps need: a
    ckpt to the source every interval (one in flight), ckpt_done to all
    once every instance acked, and a record of what they said."""

    def __init__(self, endpoint, interval=0.2, first_id=1, expect=3,
                 source="load-sim"):
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(endpoint)
        self.interval = interval
        self.next_id = first_id
        self.expect = expect  # instances that ack a checkpoint
        self.source = source  # the label of the source sent ckpt
        self.lock = threading.Lock()
        self.peers = {}  # (label, instance) -> routing id
        self.acks = {}  # ckpt id -> {(label, instance): bytes}
        self.declines = {}  # ckpt id -> {label: reason}
        self.complete = []  # ids, in order
        self.tagged = {}  # label -> [(ckpt, kind, name, total)]
        self.tagged_names = {}  # ckpt -> names of the tagged counters
        self.bye = {}  # label -> bye message
        self.metrics = {}  # label -> last metrics
        self.inflight = None
        self.inflight_at = 0.0
        self.stop_flag = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def send(self, ident, msg):
        self.sock.send_multipart([ident, msgpack.packb(msg)])

    def loop(self):
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        last = time.monotonic()
        while not self.stop_flag:
            for _ in dict(poller.poll(20)):
                while True:
                    try:
                        ident, data = self.sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self.handle(ident, msgpack.unpackb(data, raw=False))
            now = time.monotonic()
            with self.lock:
                if self.inflight and now - self.inflight_at > 10:
                    self.inflight = None  # timed out: given up
                src = self.peers.get((self.source, 0))
                if src and not self.inflight and now - last >= self.interval:
                    last = now
                    self.inflight = self.next_id
                    self.inflight_at = now
                    self.next_id += 1
                    self.send(src, {"t": "ckpt", "id": self.inflight})

    def handle(self, ident, m):
        t = m.get("t")
        with self.lock:
            label = m.get("label")
            who = (label, m.get("instance"))
            if t == "hello":
                self.peers[who] = ident
            elif t == "ack":
                n = m["id"]
                self.acks.setdefault(n, {})[who] = m["bytes"]
                if len(self.acks[n]) == self.expect:
                    self.complete.append(n)
                    if self.inflight == n:
                        self.inflight = None
                    for p in self.peers.values():
                        self.send(p, {"t": "ckpt_done", "id": n})
            elif t == "decline":
                self.declines.setdefault(m["id"], {})[label] = m["reason"]
                if self.inflight == m["id"]:
                    self.inflight = None
            elif t == "counter" and "ckpt" in m:
                who = next((k[0] for k, v in self.peers.items()
                            if v == ident), None)
                self.tagged.setdefault(who, []).append(
                    (m["ckpt"], m["kind"], m["name"], m["total"]))
                self.tagged_names.setdefault(m["ckpt"], set()).add(m["name"])
            elif t == "bye":
                self.bye[label] = m
            elif t == "metrics":
                self.metrics[label] = m

    def last_complete(self):
        with self.lock:
            return self.complete[-1] if self.complete else 0

    def committed(self, label, name, upto):
        """The counter's value as of checkpoint upto: the latest tagged
        cumulative total reported for a checkpoint <= upto."""
        with self.lock:
            best = None
            for n, _kind, nm, total in self.tagged.get(label, []):
                if nm == name and n <= upto and (best is None or n >= best[0]):
                    best = (n, total)
            return best[1] if best else 0

    def close(self):
        self.stop_flag = True
        self.thread.join(5)
        self.sock.close(0)


def read_snap(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"FLOWSNP1", f"{path}: bad magic"
    crc, reserved = struct.unpack(">II", data[8:16])
    assert reserved == 0
    assert crc == zlib.crc32(data[16:]) & 0xFFFFFFFF, f"{path}: bad crc"
    body = msgpack.unpackb(data[16:], raw=True, strict_map_key=False)
    assert len(body) == 6, body
    return body


def snap_file(ckdir, n, label, instance=0):
    return os.path.join(ckdir, str(n), f"{STREAM}.{label}.{instance}.snap")


class Pipeline:
    """The three apps as processes, wired over ipc:// in tmp."""

    def __init__(self, tmp, control, epoch, restore=None, tag="", ckdir=None,
                 drain_ms=20000):
        self.procs = {}
        self.logs = {}
        ep = [f"--flow.epoch={epoch}"] if has_epoch_flag() else []
        common = [f"--flow.control={control}", f"--flow.stream={STREAM}",
                  "--flow.guarantee=exactly-once", "--flow.upstreams=1",
                  f"--flow.checkpoint-dir={ckdir or tmp + '/ck'}",
                  f"--flow.drain-ms={drain_ms}"] + ep
        a, b = f"ipc://{tmp}/a{tag}", f"ipc://{tmp}/b{tag}"
        args = {
            "load-sim": [f"--count={COUNT}", "--seed=1", "--illegal-ratio=0",
                         f"--rate={RATE}", f"--flow.output={a}"],
            "account-events": [f"--flow.input={a}", f"--flow.output={b}"],
            "counter": ["--name=events", f"--flow.input={b}"],
        }
        for label in reversed(LABELS):
            extra = []
            if restore:
                extra = [f"--flow.restore={snap_file(tmp + '/ck', restore, label)}"]
            log = open(os.path.join(tmp, f"{label}{tag}.log"), "w")
            self.logs[label] = log
            self.procs[label] = subprocess.Popen(
                [app_path(label)] + args[label] + common + extra
                + [f"--flow.label={label}"],
                stdout=log, stderr=subprocess.STDOUT)

    def kill(self, label):
        p = self.procs[label]
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        p.wait(30)

    def kill_all(self):
        for label in self.procs:
            self.kill(label)

    def wait_exit(self, timeout):
        deadline = time.monotonic() + timeout
        for label, p in self.procs.items():
            left = max(0.1, deadline - time.monotonic())
            rc = p.wait(left)
            assert rc == 0, f"{label} exited {rc}"

    def close(self):
        self.kill_all()
        for log in self.logs.values():
            log.close()


def accounts_of(path):
    """account-events' accounts in a snapshot file: {key: state bytes}."""
    body = read_snap(path)
    assert body[2] == b"account-events", body[2]
    return {bytes(k): bytes(v) for _kg, k, v in body[4]}


def check_files(ckdir, ids):
    for n in ids:
        for label in LABELS:
            body = read_snap(snap_file(ckdir, n, label))
            assert body[0] == n, (n, body[0])


def full_run(tmp, tag):
    """A run without faults: the final accounts and committed count."""
    co = Coordinator(f"ipc://{tmp}/ctl{tag}")
    pl = Pipeline(tmp, f"ipc://{tmp}/ctl{tag}", 1, tag=tag)
    try:
        pl.wait_exit(120)
        last = co.last_complete()
        assert last > 0, "no checkpoint completed"
        return (accounts_of(snap_file(tmp + "/ck", last, "account-events")),
                co.committed("counter", "events", last), last)
    finally:
        pl.close()
        co.close()


def kill_and_restore():
    tmp = tempfile.mkdtemp(prefix="ckapps")
    try:
        ref_accounts, ref_total, _ = full_run(tmp, "r")
        assert ref_total == COUNT, f"run without faults counted {ref_total}"
        assert len(ref_accounts) > 0
        shutil.rmtree(tmp + "/ck")

        co = Coordinator(f"ipc://{tmp}/ctl")
        pl = Pipeline(tmp, f"ipc://{tmp}/ctl", 1)
        try:
            wait_for("three complete checkpoints",
                     lambda: len(co.complete) >= 3, timeout=60)
            wait_for("account-events half way",
                     lambda: co.metrics.get("account-events", {}).get("in", 0)
                     >= COUNT // 3, timeout=60)
            pl.kill("account-events")
            time.sleep(0.3)
            pl.kill_all()
        finally:
            pl.close()
        last = co.last_complete()
        with co.lock:
            for n in co.complete:
                assert {lb for lb, _ in co.acks[n]} == set(LABELS), (
                    n, co.acks[n])
        check_files(tmp + "/ck", co.complete)
        before = co.committed("counter", "events", last)
        assert 0 < before < COUNT, before
        # Exactly once at the barrier: the counter's snapshot counted
        # every event the source had sent before it, and no other.
        src = read_snap(snap_file(tmp + "/ck", last, "load-sim"))
        emitted = msgpack.unpackb(src[3])[1]
        assert before == emitted, (before, emitted)

        co.close()
        co = Coordinator(f"ipc://{tmp}/ctl", first_id=co.next_id)
        pl = Pipeline(tmp, f"ipc://{tmp}/ctl", 2, restore=last)
        try:
            pl.wait_exit(120)
        finally:
            pl.close()
        final = co.last_complete()
        assert final > last, (final, last)
        check_files(tmp + "/ck", co.complete)
        total = co.committed("counter", "events", final)
        assert total == COUNT, f"committed {total}, want {COUNT}"
        accounts = accounts_of(snap_file(tmp + "/ck", final, "account-events"))
        assert accounts == ref_accounts, (
            f"{len(accounts)} accounts, {len(ref_accounts)} without faults; "
            f"{sum(1 for k in accounts if accounts[k] != ref_accounts.get(k))}"
            " differ")
        bye = co.bye.get("account-events")
        assert bye is not None and bye["errors"] == 0, bye
        # The restored run went on from the checkpoint, not from the
        # start: the source sent the rest only, the counter counted it.
        sent = co.bye["load-sim"]["out"]
        assert sent == COUNT - emitted, (sent, COUNT, emitted)
        counted = co.bye["counter"]["in"]
        assert counted == COUNT - emitted, (counted, COUNT, emitted)
        co.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def restore_refuses(path, want):
    p = subprocess.run([app_path("account-events"), f"--flow.restore={path}"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert path in p.stderr and want in p.stderr, p.stderr


def torn_snapshot_refused():
    tmp = tempfile.mkdtemp(prefix="ckapps")
    try:
        co = Coordinator(f"ipc://{tmp}/ctl")
        pl = Pipeline(tmp, f"ipc://{tmp}/ctl", 1)
        try:
            wait_for("a complete checkpoint", lambda: co.complete, timeout=60)
        finally:
            pl.close()
            co.close()
        good = snap_file(tmp + "/ck", co.complete[0], "account-events")
        with open(good, "rb") as f:
            data = f.read()
        torn = os.path.join(tmp, "torn", f"{STREAM}.account-events.0.snap")
        os.makedirs(os.path.dirname(torn))
        with open(torn, "wb") as f:
            f.write(data[:len(data) // 2])
        restore_refuses(torn, "checksum")
        short = torn.replace("torn", "short")
        os.makedirs(os.path.dirname(short))
        with open(short, "wb") as f:
            f.write(data[:10])
        restore_refuses(short, "header")
        magic = torn.replace("torn", "magic")
        os.makedirs(os.path.dirname(magic))
        with open(magic, "wb") as f:
            f.write(b"NOTASNAP" + data[8:])
        restore_refuses(magic, "magic")
        # The intact file restores (the app then waits for its input).
        log = os.path.join(tmp, "good.log")
        with open(log, "w") as out:
            p = subprocess.Popen([app_path("account-events"),
                                  f"--flow.restore={good}"],
                                 stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for("the restore", lambda: "restored checkpoint"
                     in open(log).read(), timeout=30)
        finally:
            p.terminate()
            p.wait(30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def decline_keeps_running():
    """A snapshot that cannot be written is declined with the reason; the
    apps go on and lose nothing. A finite stream does not end while its
    checkpoints fail (its last events would never be committed): once the
    snapshots can be written again, a checkpoint completes, and only then
    does the stream end."""
    tmp = tempfile.mkdtemp(prefix="ckapps")
    try:
        notdir = os.path.join(tmp, "file")
        with open(notdir, "w") as f:
            f.write("not a directory\n")
        co = Coordinator(f"ipc://{tmp}/ctl")
        pl = Pipeline(tmp, f"ipc://{tmp}/ctl", 1, ckdir=notdir, drain_ms=2000)
        try:
            wait_for("the source's last event and three declines", lambda:
                     co.metrics.get("load-sim", {}).get("out", 0) == COUNT
                     and len(co.declines) >= 3, timeout=120)
            time.sleep(1)
            assert all(p.poll() is None for p in pl.procs.values()), \
                "a stream ended with its last events not committed"
            assert not co.complete and not co.acks, (co.complete, co.acks)
            os.unlink(notdir)
            os.mkdir(notdir, 0o700)
            pl.wait_exit(120)
        finally:
            pl.close()
            co.close()
        assert co.complete, "no checkpoint completed once the disk was back"
        assert co.committed("counter", "events", co.last_complete()) == \
            COUNT
        assert len(co.declines) >= 3, co.declines
        for n, by in co.declines.items():
            for label, reason in by.items():
                assert notdir in reason, (n, label, reason)
        assert co.bye["load-sim"]["out"] == COUNT, co.bye["load-sim"]["out"]
        assert co.bye["counter"]["in"] == COUNT, co.bye["counter"]["in"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def murmur2(data):
    """Kafka's murmur2, as the runtime computes key groups."""
    m, mask = 0x5BD1E995, 0xFFFFFFFF
    h = (0x9747B28C ^ len(data)) & mask
    n4 = len(data) // 4
    for i in range(n4):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * m) & mask
        k ^= k >> 24
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    rest = data[4 * n4:]
    if len(rest) >= 3:
        h ^= rest[2] << 16
    if len(rest) >= 2:
        h ^= rest[1] << 8
    if rest:
        h ^= rest[0]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h & 0x7FFFFFFF


def rescale_restores_owned_keys():
    """Two account-events restored from one's snapshot each take the keys
    of the key groups they own, and a counter of one restored from two
    old instances takes the counts of both."""
    tmp = tempfile.mkdtemp(prefix="ckapps")
    procs, socks = [], []
    try:
        ref_accounts, ref_total, last = full_run(tmp, "r")
        src = snap_file(tmp + "/ck", last, "account-events")
        c0 = snap_file(tmp + "/ck", last, "counter")
        c1 = snap_file(tmp + "/ck", last, "counter", 1)
        shutil.copy(c0, c1)  # as if the counter ran as two instances
        for _kg, key, _v in read_snap(src)[4]:
            assert _kg == murmur2(bytes(key)) % 128, key
        co = Coordinator(f"ipc://{tmp}/ctl2", expect=3)
        common = [f"--flow.control=ipc://{tmp}/ctl2", f"--flow.stream={STREAM}",
                  "--flow.guarantee=exactly-once",
                  f"--flow.checkpoint-dir={tmp}/ck2", "--flow.drain-ms=20000"]
        ctx = zmq.Context.instance()
        for i in range(3):
            s = ctx.socket(zmq.PUSH)
            s.setsockopt(zmq.LINGER, 0)
            s.bind(f"ipc://{tmp}/in{i}")
            socks.append(s)
        for i in range(2):
            procs.append(subprocess.Popen(
                [app_path("account-events"), f"--flow.input=ipc://{tmp}/in{i}",
                 "--flow.label=account-events", "--flow.instances=2",
                 f"--flow.instance={i}", f"--flow.restore={src}"] + common))
        procs.append(subprocess.Popen(
            [app_path("counter"), "--name=events", "--flow.label=counter",
             f"--flow.input=ipc://{tmp}/in2", f"--flow.restore={c0},{c1}"]
            + common))
        wait_for("three hellos", lambda: len(co.peers) == 3, timeout=30)
        n = last + 1
        for s in socks:
            s.send(msgpack.packb([1, "py", 0, 1, [], n], use_bin_type=True))
        wait_for(f"checkpoint {n}", lambda: n in co.complete, timeout=30)
        parts = [accounts_of(snap_file(tmp + "/ck2", n, "account-events", i))
                 for i in range(2)]
        assert parts[0] and parts[1], [len(p) for p in parts]
        assert not set(parts[0]) & set(parts[1]), "a key in both instances"
        merged = {**parts[0], **parts[1]}
        assert merged == ref_accounts, (len(merged), len(ref_accounts))
        for i, part in enumerate(parts):
            for key in part:
                assert (murmur2(key) % 128) * 2 // 128 == i, (key, i)
        total = co.committed("counter", "events", n)
        assert total == 2 * ref_total, (total, ref_total)
        for s in socks:
            s.send(msgpack.packb([1, "py", 0, 1, []], use_bin_type=True))
        for p in procs:
            assert p.wait(60) == 0
        co.close()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(30)
        for s in socks:
            s.close(0)
        shutil.rmtree(tmp, ignore_errors=True)


def fan_in(guarantee):
    """Two producer channels into one sink (test-sink: its counters, and a
    log line from on_checkpoint and on_commit): barrier 1 comes first from
    channel p0, with 5 more events after it, then from p1. Exactly-once
    holds p0's later events out of snapshot 1; at-least-once counts them
    in. Either way every event is counted once by the end."""
    tmp = tempfile.mkdtemp(prefix="ckapps")
    socks, proc = [], None
    try:
        co = Coordinator(f"ipc://{tmp}/ctl", expect=1)
        ctx = zmq.Context.instance()
        for i in range(2):
            s = ctx.socket(zmq.PUSH)
            s.setsockopt(zmq.LINGER, 0)
            s.bind(f"ipc://{tmp}/in{i}")
            socks.append(s)
        log = open(os.path.join(tmp, "sink.log"), "w")
        proc = subprocess.Popen(
            [test_sink_path(), "--flow.label=counter",
             f"--flow.input=ipc://{tmp}/in0,ipc://{tmp}/in1",
             f"--flow.control=ipc://{tmp}/ctl", f"--flow.stream={STREAM}",
             f"--flow.guarantee={guarantee}", "--flow.upstreams=2",
             f"--flow.checkpoint-dir={tmp}/ck", "--flow.drain-ms=20000"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for("hello", lambda: co.peers, timeout=30)
        payload = msgpack.packb({"x": 1}, use_bin_type=True)
        seq = {0: 0, 1: 0}
        sent = [0]

        def send(ch, frame):
            data = msgpack.packb(frame, use_bin_type=True)
            sent[0] += len(data)
            socks[ch].send(data)

        def events(ch, n):
            evs = []
            for _ in range(n):
                seq[ch] += 1
                evs.append([seq[ch], "T", int(time.time() * 1e6), "k",
                            seq[ch], payload])
            send(ch, [1, f"p{ch}", 0, 1, evs])

        def barrier(ch, n):
            send(ch, [1, f"p{ch}", 0, 1, [], n])

        events(0, 3)
        events(1, 4)
        barrier(0, 1)
        for _ in range(5):
            events(0, 1)
        # p0's later events are in before p1's barrier: the counter has
        # read them (held or counted) by the time its metrics say so.
        wait_for("the frames read", lambda: co.metrics.get("counter", {})
                 .get("bytes_in", 0) >= sent[0], timeout=30)
        events(1, 2)
        barrier(1, 1)
        wait_for("checkpoint 1", lambda: 1 in co.complete, timeout=30)
        body = read_snap(snap_file(tmp + "/ck", 1, "counter"))
        total = next(c[2] for c in body[5] if c[1] == b"received")
        types = next(c[3] for c in body[5] if c[1] == b"types")
        assert [[bytes(v), n] for v, n in types] == [[b"T", total]], types
        want = 3 + 4 + 2 + (5 if guarantee == "at-least-once" else 0)
        assert total == want, (guarantee, total, want)
        events(0, 1)
        for ch in range(2):
            send(ch, [1, f"p{ch}", 0, 1, []])
        assert proc.wait(60) == 0
        assert co.bye["counter"]["in"] == 3 + 4 + 5 + 2 + 1, co.bye["counter"]
        assert co.committed("counter", "received", 1) == want
        with open(os.path.join(tmp, "sink.log")) as f:
            text = f.read()
        assert "on_checkpoint 1" in text and "on_commit 1" in text, text
        assert text.index("on_checkpoint 1") < text.index("on_commit 1")
        co.close()
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait(30)
        for s in socks:
            s.close(0)
        shutil.rmtree(tmp, ignore_errors=True)


def barrier_without_guarantee_ignored():
    """An app without a guarantee takes a barrier for nothing: not for an
    end of stream (it would stop with --flow.eos-exit), not for events."""
    tmp = tempfile.mkdtemp(prefix="ckapps")
    sock, proc = None, None
    try:
        sock = zmq.Context.instance().socket(zmq.PUSH)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(f"ipc://{tmp}/in")
        out = os.path.join(tmp, "m.json")
        proc = subprocess.Popen(
            [test_sink_path(), f"--flow.input=ipc://{tmp}/in",
             "--flow.eos-exit=1", f"--flow.metrics-json={out}",
             f"--flow.allow-path={tmp}"])
        payload = msgpack.packb({}, use_bin_type=True)
        ev = [[1, "T", int(time.time() * 1e6), None, 1, payload]]
        sock.send(msgpack.packb([1, "p", 0, 1, [], 1], use_bin_type=True))
        sock.send(msgpack.packb([1, "p", 0, 1, ev], use_bin_type=True))
        sock.send(msgpack.packb([1, "p", 0, 1, []], use_bin_type=True))
        assert proc.wait(30) == 0
        import json
        with open(out) as f:
            m = json.load(f)
        assert m["in"] == 1 and m["rejected"] == 0, m
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait(30)
        if sock:
            sock.close(0)
        shutil.rmtree(tmp, ignore_errors=True)


def counters_all_after_reconnect():
    """The tagged counters of a checkpoint list what changed since the
    previous barrier, and every counter again once the control connection
    is made anew (flowd restarted)."""
    tmp = tempfile.mkdtemp(prefix="ckapps")
    sock, proc, co = None, None, None
    try:
        ctl = f"ipc://{tmp}/ctl"
        co = Coordinator(ctl, expect=1)
        sock = zmq.Context.instance().socket(zmq.PUSH)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(f"ipc://{tmp}/in")
        proc = subprocess.Popen(
            [test_sink_path(), f"--flow.input=ipc://{tmp}/in",
             f"--flow.control={ctl}", "--flow.guarantee=exactly-once",
             f"--flow.checkpoint-dir={tmp}/ck"])
        wait_for("hello", lambda: co.peers, timeout=30)
        payload = msgpack.packb({}, use_bin_type=True)

        def event(seq):
            ev = [[seq, "T", int(time.time() * 1e6), None, seq, payload]]
            sock.send(msgpack.packb([1, "p", 0, 1, ev], use_bin_type=True))

        def barrier(c, n):
            sock.send(msgpack.packb([1, "p", 0, 1, [], n], use_bin_type=True))
            wait_for(f"ack {n}", lambda: n in c.acks, timeout=30)

        event(1)
        barrier(co, 1)
        # At the first one, after the connection: all three counters.
        assert co.tagged_names[1] == {"received", "seq-gaps", "types"}, (
            co.tagged_names)
        event(2)
        barrier(co, 2)
        # seq-gaps did not change: it is left out.
        assert co.tagged_names[2] == {"received", "types"}, co.tagged_names
        co.close()
        co = Coordinator(ctl, expect=1)
        # The app's control socket connects again by itself; its metrics
        # come once a second.
        wait_for("the app reconnected", lambda: co.metrics, timeout=30)
        event(3)
        barrier(co, 3)
        assert co.tagged_names[3] == {"received", "seq-gaps", "types"}, (
            co.tagged_names)
        with co.lock:
            totals = {nm: t for n, _k, nm, t in co.tagged.get(None, [])}
        assert totals.get("received") == 3, co.tagged
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            proc.wait(30)
        if sock:
            sock.close(0)
        if co:
            co.close()
        shutil.rmtree(tmp, ignore_errors=True)


TESTS = {
    "counters_all_after_reconnect": counters_all_after_reconnect,
    "barrier_without_guarantee_ignored": barrier_without_guarantee_ignored,
    "fan_in_exactly_once_holds": lambda: fan_in("exactly-once"),
    "fan_in_at_least_once_counts": lambda: fan_in("at-least-once"),
    "rescale_restores_owned_keys": rescale_restores_owned_keys,
    "decline_keeps_running": decline_keeps_running,
    "kill_and_restore": kill_and_restore,
    "torn_snapshot_refused": torn_snapshot_refused,
}

if __name__ == "__main__":
    run(TESTS)
