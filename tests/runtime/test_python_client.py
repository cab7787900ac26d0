#!/usr/bin/python3
"""Produces into and consumes from a running runtime app from Python.

Usage: test_python_client.py FLOW_TEST_PASS

Speaks only what docs/wire.md and docs/apps.md document: Python binds a
PUSH socket the app's input connects to, connects PULL sockets to the
app's output and error output, and plays flowd's ROUTER on the control
endpoint. Checks that every event comes back with its headers and payload,
that rejected events reach the error output with the reason, that
malformed frames are counted as rejected without harming the app, and that
a control "stop" ends the app with a "bye" and exit status 0, and that
output groups added and removed by control get every event and stop
holding the app back once removed."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import msgpack
import zmq

N = 2000
REJECT_EVERY = 10


def frame(label, instance, epoch, events):
    return msgpack.packb([1, label, instance, epoch, events], use_bin_type=True)


def recv_until(sock, deadline):
    if sock.poll(max(0, int((deadline - time.time()) * 1000))):
        return sock.recv()
    return None


def end_of_stream_on_both_outputs(app):
    """An end of stream reaches the output and the error output, and the
    app exits 0 (--flow.eos-exit=1). The error output sends it once; the
    output resends it while a consumer stays connected (one that missed it
    behind a full queue gets it then), always the same producer, instance
    and epoch, which is how a consumer counts it once."""
    work = tempfile.mkdtemp(prefix="flow-py-eos-")
    ctx = zmq.Context()
    proc = None
    try:
        push = ctx.socket(zmq.PUSH)
        push.bind("ipc://%s/in" % work)
        pull = ctx.socket(zmq.PULL)
        pull.connect("ipc://%s/out" % work)
        errs = ctx.socket(zmq.PULL)
        errs.connect("ipc://%s/err" % work)
        proc = subprocess.Popen([
            app, "--reject-every=2", "--flow.eos-exit=1",
            "--flow.input=ipc://%s/in" % work,
            "--flow.output=ipc://%s/out" % work,
            "--flow.error-output=ipc://%s/err" % work])
        n = 10
        push.send(frame("py", 0, 1, [
            [i, "T", 0, None, i, msgpack.packb({"n": i})]
            for i in range(1, n + 1)]))
        push.send(frame("py", 0, 1, []))
        counts = {"out": [0, 0], "err": [0, 0]}  # [events, ended]
        ends = {"out": set(), "err": set()}  # (producer, instance, epoch)
        err_ends = 0
        deadline = time.time() + 60
        poller = zmq.Poller()
        poller.register(pull, zmq.POLLIN)
        poller.register(errs, zmq.POLLIN)
        # Read until both ends arrived, and half a second longer so that a
        # second end of stream would be seen; then hang up, which lets the
        # app (waiting for its consumers to go) exit.
        quiet_until = None
        while time.time() < deadline:
            ready = dict(poller.poll(100))
            for name, sock in (("out", pull), ("err", errs)):
                if sock in ready:
                    f = msgpack.unpackb(sock.recv(), raw=False)
                    counts[name][0] += len(f[4])
                    if not f[4]:
                        ends[name].add(tuple(f[1:4]))
                        counts[name][1] = 1
                        err_ends += name == "err"
            if counts["out"][1] and counts["err"][1]:
                if quiet_until is None:
                    quiet_until = time.time() + 0.5
                elif time.time() > quiet_until:
                    break
        pull.close(linger=0)
        errs.close(linger=0)
        assert counts == {"out": [n // 2, 1], "err": [n // 2, 1]}, counts
        assert len(ends["out"]) == 1 and len(ends["err"]) == 1, ends
        assert err_ends == 1, err_ends
        assert proc.wait(timeout=30) == 0
        print("ok: end of stream on the output, once on the error output")
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        ctx.destroy(linger=0)
        shutil.rmtree(work, ignore_errors=True)


def recv_events(sock, want, deadline):
    """Reads frames until want events (and, with want None, an end of
    stream) arrived; returns the events and whether the stream ended."""
    got, ended = [], False
    while time.time() < deadline and not ended and (
            want is None or len(got) < want):
        data = recv_until(sock, min(deadline, time.time() + 1))
        if data is None:
            continue
        f = msgpack.unpackb(data, raw=False)
        got.extend(f[4])
        ended = len(f[4]) == 0
    return got, ended


def output_groups_by_control(app):
    """An app started with --flow.control and no --flow.output holds what
    it makes until flowd (played here) adds an output group; every group
    gets every event; a removed group no longer holds the app back."""
    work = tempfile.mkdtemp(prefix="flow-py-groups-")
    ctx = zmq.Context()
    proc = None
    try:
        push = ctx.socket(zmq.PUSH)
        push.bind("ipc://%s/in" % work)
        router = ctx.socket(zmq.ROUTER)
        router.bind("ipc://%s/ctl" % work)
        proc = subprocess.Popen([
            app, "--flow.eos-exit=1", "--flow.input=ipc://%s/in" % work,
            "--flow.control=ipc://%s/ctl" % work,
            "--flow.hwm-events=256", "--flow.batch-max=16"])
        deadline = time.time() + 60
        ident = None
        while ident is None:
            assert router.poll(max(0, int((deadline - time.time()) * 1000))), \
                "no hello from the app"
            i, body = router.recv_multipart()
            if msgpack.unpackb(body, raw=False)["t"] == "hello":
                ident = i

        def ctl(t, ep):
            router.send_multipart([ident, msgpack.packb(
                {"t": t, "port": "output", "endpoint": ep})])

        def events(first, n, pad=0):
            return frame("py", 0, 1, [
                [i, "T", 0, None, i, msgpack.packb({"n": i, "pad": "x" * pad})]
                for i in range(first, first + n)])

        def ids(evs):
            return [e[0] for e in evs]

        def connected(sock, ep):
            """Connects sock to ep and waits until the app has bound it."""
            mon = sock.get_monitor_socket(zmq.EVENT_CONNECTED)
            sock.connect(ep)
            assert mon.poll(max(0, int((deadline - time.time()) * 1000))), \
                "the app never bound " + ep
            sock.disable_monitor()
            mon.close(linger=0)

        # Events before any group wait in the app for the first one.
        n1 = 100
        push.send(events(1, n1))
        ga, gb = "ipc://%s/a" % work, "ipc://%s/b" % work
        a, b = ctx.socket(zmq.PULL), ctx.socket(zmq.PULL)
        b.setsockopt(zmq.RCVHWM, 1)
        ctl("connect", ga)
        connected(a, ga)
        got, _ = recv_events(a, n1, deadline)
        assert ids(got) == list(range(1, n1 + 1)), len(got)
        # A second group: from now on each gets every event.
        ctl("connect", gb)
        ctl("connect", ga)  # again: nothing changes
        connected(b, gb)
        n2 = 200
        push.send(events(n1 + 1, n2))
        got_a, _ = recv_events(a, n2, deadline)
        got_b, _ = recv_events(b, n2, deadline)
        want = list(range(n1 + 1, n1 + n2 + 1))
        assert ids(got_a) == want and ids(got_b) == want, (
            len(got_a), len(got_b))
        # Group b goes and its reader stops reading: far more than b's
        # queues hold must still reach a, and the end of stream too.
        ctl("disconnect", gb)
        n3 = 4000
        for k in range(0, n3, 100):
            push.send(events(n1 + n2 + 1 + k, 100, pad=1000))
        push.send(frame("py", 0, 1, []))
        got_a, ended = recv_events(a, None, deadline)
        assert ended and len(got_a) == n3, (ended, len(got_a))
        a.close(linger=0)
        b.close(linger=0)
        assert proc.wait(timeout=30) == 0
        print("ok: output groups added and removed by control")
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        ctx.destroy(linger=0)
        shutil.rmtree(work, ignore_errors=True)


def main():
    app = sys.argv[1]
    end_of_stream_on_both_outputs(app)
    output_groups_by_control(app)
    work = tempfile.mkdtemp(prefix="flow-py-")
    ctx = zmq.Context()
    proc = None
    try:
        ep_in = "ipc://%s/in" % work
        ep_out = "ipc://%s/out" % work
        ep_err = "ipc://%s/err" % work
        ep_ctl = "ipc://%s/ctl" % work
        ep_tap = "ipc://%s/tap" % work
        push = ctx.socket(zmq.PUSH)
        push.bind(ep_in)
        router = ctx.socket(zmq.ROUTER)
        router.bind(ep_ctl)
        metrics_path = os.path.join(work, "metrics.json")
        proc = subprocess.Popen([
            app, "--reject-every=%d" % REJECT_EVERY,
            "--flow.input=" + ep_in, "--flow.output=" + ep_out,
            "--flow.error-output=" + ep_err, "--flow.control=" + ep_ctl,
            "--flow.tap=" + ep_tap,
            "--flow.stream=py", "--flow.label=relay", "--flow.instance=1",
            "--flow.metrics-json=" + metrics_path])
        pull = ctx.socket(zmq.PULL)
        pull.connect(ep_out)
        errs = ctx.socket(zmq.PULL)
        errs.connect(ep_err)
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.connect(ep_tap)

        deadline = time.time() + 30
        ident, hello = None, None
        while hello is None:
            assert router.poll(max(1, int((deadline - time.time()) * 1000))), \
                "no hello from the app"
            ident, body = router.recv_multipart()
            msg = msgpack.unpackb(body, raw=False)
            if msg["t"] == "hello":
                hello = msg
        assert hello["app"] == "test-pass", hello
        assert hello["label"] == "relay" and hello["instance"] == 1, hello
        assert hello["role"] == "processor" and hello["pid"] == proc.pid

        # Malformed input first: it must be rejected and counted, and the
        # app must go on.
        push.send(b"\x95\x01")                         # truncated
        push.send(b"\xc1garbage")                      # not msgpack
        push.send(frame("py", 0, 1, [[1, "T", 0, None, 1, "not bin"]]))
        push.send(msgpack.packb([2, "py", 0, 1, []]))  # unknown version

        # Probe events until the tap's subscription is in place (a tap
        # with no subscriber publishes to nobody).
        probes = 0
        deadline = time.time() + 60
        while True:
            assert time.time() < deadline, "the tap never delivered"
            probes += 1
            push.send(frame("py", 0, 1, [[10**9 + probes, "PROBE", 0, None,
                                          probes, msgpack.packb({"n": 1})]]))
            f = msgpack.unpackb(pull.recv(), raw=False)
            assert f[4][0][1] == "PROBE"
            if sub.poll(200):
                break
        while sub.poll(500):
            sub.recv()

        epoch = 424242
        sent = {}
        batch = []
        for i in range(1, N + 1):
            payload = msgpack.packb({"n": i, "who": "python", "x": [1, 2.5]})
            ts = int(time.time() * 1e6)
            ev = [i * 7, "PY_EVENT", ts, "key%d" % (i % 5), i, payload]
            sent[i * 7] = (ts, payload)
            batch.append(ev)
            if len(batch) == 50 or i == N:
                push.send(frame("py", 0, epoch, batch))
                batch = []

        got, got_err = {}, {}
        seqs = []
        deadline = time.time() + 60
        want_ok = N - N // REJECT_EVERY
        while len(got) < want_ok or len(got_err) < N // REJECT_EVERY:
            poller = zmq.Poller()
            poller.register(pull, zmq.POLLIN)
            poller.register(errs, zmq.POLLIN)
            ready = dict(poller.poll(max(1, int((deadline - time.time()) * 1000))))
            assert ready, "timed out: %d ok, %d errors" % (len(got), len(got_err))
            for sock, into in ((pull, got), (errs, got_err)):
                if sock not in ready:
                    continue
                f = msgpack.unpackb(sock.recv(), raw=False)
                assert f[0] == 1 and f[1] == "relay" and f[2] == 1, f[:4]
                for ev in f[4]:
                    eid, etype, ts, key, seq, payload = ev
                    assert eid not in into, "duplicate %d" % eid
                    into[eid] = (etype, ts, key, payload)
                    if sock is pull:
                        seqs.append(seq)
        assert seqs == list(range(probes + 1, probes + len(seqs) + 1)), \
            "output seq not consecutive"
        for eid, (etype, ts, key, payload) in got.items():
            n = eid // 7
            assert n % REJECT_EVERY != 0
            assert etype == "PY_EVENT" and key == "key%d" % (n % 5)
            assert (ts, payload) == sent[eid], "headers or payload changed"
        for eid, (etype, ts, key, payload) in got_err.items():
            body = msgpack.unpackb(payload, raw=False)
            assert body["error"] == "n is a multiple of reject-every", body
            assert body["event"]["n"] == eid // 7
            assert (eid // 7) % REJECT_EVERY == 0

        # Metrics arrive once a second; wait for one that saw everything.
        deadline = time.time() + 10
        while True:
            assert router.poll(max(1, int((deadline - time.time()) * 1000))), \
                "no complete metrics message"
            _, body = router.recv_multipart()
            m = msgpack.unpackb(body, raw=False)
            if (m["t"] == "metrics" and m["in"] == N + probes
                    and m["out"] + m["errors"] == N + probes):
                break
        assert m["rejected"] == 4, m
        assert m["out"] == want_ok + probes, m
        assert m["errors"] == N // REJECT_EVERY, m
        assert m["lat_us"][-1][0] == 0 and m["lat_us"][-1][1] == N + probes

        # Every output batch went to the tap too, or was counted as a drop
        # (the tap is read only now, so it may well have overflowed).
        tapped = 0
        while sub.poll(500):
            f = msgpack.unpackb(sub.recv(), raw=False)
            assert f[1] == "relay"
            for ev in f[4]:
                assert ev[0] in got, "the tap carried an unknown event"
                tapped += 1
        assert tapped + m["drops"] == want_ok, (tapped, m["drops"])

        router.send_multipart([ident, msgpack.packb({"t": "stop"})])
        deadline = time.time() + 10
        bye = None
        while bye is None:
            assert router.poll(max(1, int((deadline - time.time()) * 1000))), \
                "no bye"
            _, body = router.recv_multipart()
            m = msgpack.unpackb(body, raw=False)
            if m["t"] == "bye":
                bye = m
        assert proc.wait(timeout=10) == 0
        assert bye["in"] == N + probes, bye
        final = json.load(open(metrics_path))
        assert final["in"] == N + probes and final["rejected"] == 4, final
        assert final["out"] == want_ok + probes, final
        print("ok: %d events through, %d to the error output, 4 rejected, "
              "%d on the tap, %d tap drops counted"
              % (len(got), len(got_err), tapped, m["drops"]))
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        ctx.destroy(linger=0)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
