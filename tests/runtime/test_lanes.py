#!/usr/bin/python3
"""Output lanes, keyed routing and epoch fencing of a runtime app.

Usage: test_lanes.py FLOW_TEST_PASS

Speaks only what docs/wire.md documents, with flow-test-pass (which
forwards every event unchanged) between a Python producer and Python
consumers:
- fencing: an app started with --flow.epoch=2 processes only frames of
  epoch 2; every frame of epoch 1 (its end of stream too) is dropped whole
  and counted in `fenced`; what it sends carries epoch 2 and the
  --flow.producer-id;
- keyed lanes: with --flow.partition-key=key every event reaches exactly
  the lane that owns its key group (murmur2 computed here independently),
  an event without a key goes to the error output with the reason
  "no partition key", and every lane gets an end of stream;
- a payload field as the key, round-robin lanes without a key, a group of
  one lane beside a group of lanes, and lanes added by control "connect"
  taking the events that waited for a first group."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import msgpack
import zmq

K = 128


def murmur2(data):
    """Kafka's murmur2 (Utils.murmur2), as a signed 32-bit int."""
    length = len(data)
    m, r = 0x5bd1e995, 24
    h = (0x9747b28c ^ length) & 0xffffffff
    for i in range(length // 4):
        k = (data[4 * i] | data[4 * i + 1] << 8 | data[4 * i + 2] << 16 |
             data[4 * i + 3] << 24)
        k = (k * m) & 0xffffffff
        k ^= k >> r
        k = (k * m) & 0xffffffff
        h = (h * m) & 0xffffffff
        h ^= k
    rem, b = length % 4, length & ~3
    if rem == 3:
        h ^= data[b + 2] << 16
    if rem >= 2:
        h ^= data[b + 1] << 8
    if rem >= 1:
        h ^= data[b]
        h = (h * m) & 0xffffffff
    h ^= h >> 13
    h = (h * m) & 0xffffffff
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


assert murmur2(b"21") == -973932308  # Kafka's own test vector


def lane_of(key, n):
    kg = (murmur2(key.encode()) & 0x7fffffff) % K
    return kg * n // K


def frame(label, instance, epoch, events):
    return msgpack.packb([1, label, instance, epoch, events], use_bin_type=True)


def ev(i, key, payload=None):
    return [i, "T", 0, key, i, msgpack.packb(payload or {"n": i})]


class Rig:
    """One flow-test-pass with its sockets; closes everything."""

    def __init__(self, app, flags, lanes=None, control=False):
        self.work = tempfile.mkdtemp(prefix="flow-lanes-")
        self.ctx = zmq.Context()
        self.proc = None
        self.readers = []
        self.push = self.ctx.socket(zmq.PUSH)
        self.push.bind(self.ep("in"))
        self.metrics = os.path.join(self.work, "metrics.json")
        argv = [app, "--flow.input=" + self.ep("in"),
                "--flow.error-output=" + self.ep("err"),
                "--flow.metrics-json=" + self.metrics] + flags
        if lanes is not None:
            # {w}: the rig's directory.
            argv.append("--flow.output=" + lanes.replace("{w}", self.work))
        self.router = None
        if control:
            self.router = self.ctx.socket(zmq.ROUTER)
            self.router.bind(self.ep("ctl"))
            argv.append("--flow.control=" + self.ep("ctl"))
        self.proc = subprocess.Popen(argv)
        self.errs = self.pull("err")
        self.deadline = time.time() + 90

    def ep(self, name):
        return "ipc://%s/%s" % (self.work, name)

    def pull(self, name):
        return self.connect(self.ep(name))

    def connect(self, ep):
        s = self.ctx.socket(zmq.PULL)
        s.connect(ep)
        self.readers.append(s)
        return s

    def read_all(self, socks, want_ends):
        """Reads every socket until each has sent want_ends ends of stream
        (frames with no events); returns per socket the frames read."""
        frames = {s: [] for s in socks}
        ends = {s: 0 for s in socks}
        poller = zmq.Poller()
        for s in socks:
            poller.register(s, zmq.POLLIN)
        while any(ends[s] < want_ends for s in socks):
            assert time.time() < self.deadline, {
                id(s): (len(frames[s]), ends[s]) for s in socks}
            for s, _ in poller.poll(200):
                f = msgpack.unpackb(s.recv(), raw=False)
                frames[s].append(f)
                if not f[4]:
                    ends[s] += 1
        return frames

    def exit_metrics(self):
        # Hanging up lets the app, done, exit without waiting for us.
        for s in self.readers:
            s.close(linger=0)
        assert self.proc.wait(timeout=60) == 0
        with open(self.metrics) as f:
            return json.load(f)

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.ctx.destroy(linger=0)
        shutil.rmtree(self.work, ignore_errors=True)


def events_of(frames):
    return [e for f in frames for e in f[4]]


def fencing(app):
    r = Rig(app, ["--flow.epoch=2", "--flow.producer-id=s.relay",
                  "--flow.eos-exit=1"], lanes="ipc://{w}/out")
    try:
        pull = r.pull("out")
        sent1 = 0
        # Interleaved: 5 frames of epoch 1 (a zombie), 3 of epoch 2.
        for k in range(5):
            r.push.send(frame("src", 0, 1, [ev(1000 + k * 10 + i, "a")
                                            for i in range(10)]))
            sent1 += 1
            if k < 3:
                r.push.send(frame("src", 0, 2, [ev(k * 10 + i, "b")
                                                for i in range(10)]))
        # The zombie's end of stream must not end this app.
        r.push.send(frame("src", 0, 1, []))
        sent1 += 1
        r.push.send(frame("src", 0, 2, []))
        frames = r.read_all([pull], 1)[pull]
        got = events_of(frames)
        assert sorted(e[0] for e in got) == list(range(30)), \
            sorted(e[0] for e in got)
        for f in frames:
            assert f[1] == "s.relay" and f[3] == 2, f[:4]
        m = r.exit_metrics()
        assert m["in"] == 30 and m["fenced"] == sent1 and m["errors"] == 0, m
        print("ok: fencing (%d frames of epoch 1 fenced)" % sent1)
    finally:
        r.close()


def keyed_lanes(app):
    n = 3
    r = None
    work = tempfile.mkdtemp(prefix="flow-lanes-k-")
    try:
        eps = ["ipc://%s/lane.%d" % (work, j) for j in range(n)]
        r = Rig(app, ["--flow.partition-key=key", "--flow.eos-exit=1",
                      "--flow.batch-max=16"], lanes="|".join(eps))
        socks = [r.connect(e) for e in eps]
        total, nokey = 3000, 0
        batch = []
        for i in range(1, total + 1):
            key = None if i % 100 == 0 else "acct-%04d" % (i % 300)
            nokey += key is None
            batch.append(ev(i, key))
            if len(batch) == 50:
                r.push.send(frame("src", 0, 7, batch))
                batch = []
        r.push.send(frame("src", 0, 7, []))
        frames = r.read_all(socks + [r.errs], 1)
        seen = []
        for j, s in enumerate(socks):
            got = events_of(frames[s])
            assert got, "lane %d got nothing" % j
            for e in got:
                assert lane_of(e[3], n) == j, (e[3], j)
            seen += [e[0] for e in got]
        assert sorted(seen) == [i for i in range(1, total + 1) if i % 100], \
            len(seen)
        errs = events_of(frames[r.errs])
        assert len(errs) == nokey, len(errs)
        for e in errs:
            assert msgpack.unpackb(e[5], raw=False)["error"] == \
                "no partition key", e
        m = r.exit_metrics()
        assert m["errors"] == nokey and m["out"] == total - nokey and \
            m["drops"] == 0, m
        print("ok: keyed lanes (%d events over %d lanes, %d without a key)" %
              (len(seen), n, nokey))
    finally:
        if r:
            r.close()
        shutil.rmtree(work, ignore_errors=True)


def field_key_round_robin_and_mixed(app):
    """Keyed by a payload field path; and, unkeyed, a 2-lane group beside a
    group of one lane: the single lane gets every event, the lanes share
    them by whole batches."""
    work = tempfile.mkdtemp(prefix="flow-lanes-f-")
    r = None
    try:
        eps = ["ipc://%s/f.%d" % (work, j) for j in range(2)]
        r = Rig(app, ["--flow.partition-key=acct.id", "--flow.eos-exit=1"],
                lanes="|".join(eps))
        socks = [r.connect(e) for e in eps]
        evs = [ev(i, None, {"acct": {"id": i % 50}}) for i in range(1, 501)]
        r.push.send(frame("src", 0, 7, evs))
        r.push.send(frame("src", 0, 7, []))
        frames = r.read_all(socks, 1)
        for j, s in enumerate(socks):
            for e in events_of(frames[s]):
                acct = msgpack.unpackb(e[5], raw=False)["acct"]["id"]
                assert lane_of(str(acct), 2) == j, (acct, j)
        assert sum(len(events_of(frames[s])) for s in socks) == 500
        assert r.exit_metrics()["errors"] == 0
        r.close()
        eps = ["ipc://%s/m.%d" % (work, j) for j in range(2)]
        single = "ipc://%s/single" % work
        r = Rig(app, ["--flow.eos-exit=1", "--flow.batch-max=10"],
                lanes=single + ";" + "|".join(eps))
        socks = [r.connect(e) for e in eps]
        one = r.connect(single)
        for k in range(20):
            r.push.send(frame("src", 0, 7, [ev(k * 10 + i, "x")
                                            for i in range(1, 11)]))
        r.push.send(frame("src", 0, 7, []))
        frames = r.read_all(socks + [one], 1)
        want = sorted(k * 10 + i for k in range(20) for i in range(1, 11))
        assert sorted(e[0] for e in events_of(frames[one])) == want
        lanes = [[e[0] for e in events_of(frames[s])] for s in socks]
        assert sorted(lanes[0] + lanes[1]) == want, lanes
        assert lanes[0] and lanes[1], "round-robin left a lane empty"
        m = r.exit_metrics()
        assert m["out"] == 200 and m["drops"] == 0, m
        print("ok: payload field key; round-robin lanes beside one lane")
    finally:
        if r:
            r.close()
        shutil.rmtree(work, ignore_errors=True)


def lanes_linger(app):
    """With --flow.batch-linger-us, a lane's partial batch goes out when
    the linger ends, though no more input comes."""
    r = Rig(app, ["--flow.partition-key=key", "--flow.batch-linger-us=2000",
                  "--flow.eos-exit=1"],
            lanes="ipc://{w}/g.0|ipc://{w}/g.1")
    try:
        socks = [r.connect(r.ep("g.%d" % j)) for j in range(2)]
        r.push.send(frame("src", 0, 7, [ev(i, "k%d" % i)
                                        for i in range(1, 11)]))
        got = []
        poller = zmq.Poller()
        for s in socks:
            poller.register(s, zmq.POLLIN)
        while len(got) < 10:
            assert time.time() < r.deadline, len(got)
            for s, _ in poller.poll(200):
                got += msgpack.unpackb(s.recv(), raw=False)[4]
        assert sorted(e[0] for e in got) == list(range(1, 11))
        r.push.send(frame("src", 0, 7, []))
        r.read_all(socks, 1)
        assert r.exit_metrics()["out"] == 10
        print("ok: lanes after the linger")
    finally:
        r.close()


def lanes_by_control(app):
    """Events made before any group wait; a group of lanes connected by
    control gets them, each on the lane owning its key. Replaced by a
    group of another lane count, then by a group of one lane (as flowd
    does when the consumer is scaled), each gets what waited for it."""
    r = Rig(app, ["--flow.partition-key=key", "--flow.eos-exit=1"],
            control=True)
    try:
        ident = None
        while ident is None:
            assert r.router.poll(30000), "no hello from the app"
            i, body = r.router.recv_multipart()
            if msgpack.unpackb(body, raw=False)["t"] == "hello":
                ident = i
        def ctl(t, ep):
            r.router.send_multipart([ident, msgpack.packb(
                {"t": t, "port": "output", "endpoint": ep})])

        def read_n(socks, n):
            got = {s: [] for s in socks}
            poller = zmq.Poller()
            for s in socks:
                poller.register(s, zmq.POLLIN)
            while sum(len(v) for v in got.values()) < n:
                assert time.time() < r.deadline, {
                    id(s): len(v) for s, v in got.items()}
                for s, _ in poller.poll(200):
                    got[s] += msgpack.unpackb(s.recv(), raw=False)[4]
            return [got[s] for s in socks]

        def removed(sock, ep):
            """Sends disconnect of ep and waits until the app has closed
            it (sock, a reader of it, sees the disconnection), so that
            what comes next cannot reach it."""
            mon = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
            ctl("disconnect", ep)
            assert mon.poll(30000), "the app kept " + ep
            sock.disable_monitor()
            mon.close(linger=0)

        def send(first, n):
            r.push.send(frame("src", 0, 7, [
                ev(i, "k%d" % i) for i in range(first, first + n)]))

        send(1, 40)
        time.sleep(0.3)
        four = [r.ep("c.%d" % j) for j in range(4)]
        ctl("connect", "|".join(four))
        socks = [r.connect(e) for e in four]
        for j, got in enumerate(read_n(socks, 40)):
            for e in got:
                assert lane_of(e[3], 4) == j, (e[3], j)
        # Scaled to 2: the group of 4 lanes goes, what comes waits for
        # the group of 2, which then gets it by key.
        removed(socks[0], "|".join(four))
        send(41, 30)
        time.sleep(0.3)
        two = [r.ep("d.%d" % j) for j in range(2)]
        ctl("connect", "|".join(two))
        socks = [r.connect(e) for e in two]
        ids = []
        for j, got in enumerate(read_n(socks, 30)):
            for e in got:
                assert lane_of(e[3], 2) == j, (e[3], j)
                ids.append(e[0])
        assert sorted(ids) == list(range(41, 71)), ids
        # Scaled to 1: one lane, every event.
        removed(socks[0], "|".join(two))
        one = r.ep("e")
        ctl("connect", one)
        sock = r.connect(one)
        send(71, 20)
        r.push.send(frame("src", 0, 7, []))
        got = events_of(r.read_all([sock], 1)[sock])
        assert [e[0] for e in got] == list(range(71, 91)), got
        m = r.exit_metrics()
        assert m["out"] == 90 and m["drops"] == 0, m
        print("ok: lanes connected by control")
    finally:
        r.close()


def main():
    app = sys.argv[1]
    fencing(app)
    keyed_lanes(app)
    field_key_round_robin_and_mixed(app)
    lanes_linger(app)
    lanes_by_control(app)


if __name__ == "__main__":
    main()
