#!/usr/bin/python3
"""The wire's size limit and the tap's drop count, with real processes.

Usage: test_limits.py FLOW_TEST_GEN FLOW_TEST_PASS

1. An oversized frame: test-pass reads two producers (Python PUSH sockets
   it connects to). One sends a good batch, then a frame of 16 MiB + 1
   bytes, which libzmq refuses and for which it drops that producer's
   connection; the app counts it in rejected, connects again, and every
   good batch sent after that, by that producer and by the other, comes
   out: the exact number of events, the rejected count 1, the app still
   running until both producers end their streams.
2. A tap that cannot keep up: test-gen makes 1,000,000 events as fast as
   test-pass takes them, a Python subscriber reads the tap slowly; the
   events it received plus the tapped app's drops are exactly the events
   the app sent from the subscriber's first one on (a subscriber sees
   nothing sent before its subscription arrived), and the tap's last
   message is the end of stream, which the app's stop waits for.
3. A tap subscriber that never reads while the app is stopped by SIGTERM:
   the stop does not wait for it long, counts what ZeroMQ still held,
   and counts nothing twice."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import msgpack
import zmq
import zmq.utils.monitor

GEN, PASS = sys.argv[1:3]
MAX_FRAME = 16 * 1024 * 1024  # FLOW_WIRE_MAX_FRAME, docs/wire.md


def frame(label, epoch, events):
    return msgpack.packb([1, label, 0, epoch, events], use_bin_type=True)


def batch(first, n):
    return [[i, "T", 0, None, i, msgpack.packb({"n": i})]
            for i in range(first, first + n)]


def wait_event(mon, want, deadline):
    """Reads monitor events until one of type want; False at the deadline."""
    while time.time() < deadline:
        if not mon.poll(max(1, int((deadline - time.time()) * 1000))):
            return False
        ev = zmq.utils.monitor.recv_monitor_message(mon)
        if ev["event"] == want:
            return True
    return False


def oversized_frame():
    work = tempfile.mkdtemp(prefix="flow-limits-")
    ctx = zmq.Context()
    proc = None
    try:
        a, b = ctx.socket(zmq.PUSH), ctx.socket(zmq.PUSH)
        ea, eb = "ipc://%s/a" % work, "ipc://%s/b" % work
        mon_a = a.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED |
                                     zmq.EVENT_DISCONNECTED)
        mon_b = b.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        a.bind(ea)
        b.bind(eb)
        out = ctx.socket(zmq.PULL)
        out.connect("ipc://%s/out" % work)
        mj = os.path.join(work, "m.json")
        proc = subprocess.Popen([
            PASS, "--flow.input=%s,%s" % (ea, eb),
            "--flow.output=ipc://%s/out" % work, "--flow.eos-exit=2",
            "--flow.metrics-json=" + mj])
        deadline = time.time() + 60
        assert wait_event(mon_a, zmq.EVENT_HANDSHAKE_SUCCEEDED, deadline)
        assert wait_event(mon_b, zmq.EVENT_HANDSHAKE_SUCCEEDED, deadline)
        a.send(frame("a", 1, batch(1, 100)))
        got = 0
        while got < 100 and out.poll(max(1, int((deadline - time.time())
                                                 * 1000))):
            got += len(msgpack.unpackb(out.recv(), raw=False)[4])
        assert got == 100, got
        # One byte over the limit: libzmq drops a's connection.
        a.send(b"\x00" * (MAX_FRAME + 1))
        assert wait_event(mon_a, zmq.EVENT_DISCONNECTED, deadline), \
            "the oversized frame did not cut the connection"
        # The app connects to a again; then a is read again.
        assert wait_event(mon_a, zmq.EVENT_HANDSHAKE_SUCCEEDED, deadline), \
            "the app never connected again to the producer it cut"
        a.send(frame("a", 1, batch(101, 200)))
        b.send(frame("b", 1, batch(1, 300)))
        while got < 600 and out.poll(max(1, int((deadline - time.time())
                                                 * 1000))):
            got += len(msgpack.unpackb(out.recv(), raw=False)[4])
        assert got == 600, got
        assert proc.poll() is None, "the app stopped"
        out.close(linger=0)  # the app's stop waits for its consumers to go
        a.send(frame("a", 1, []))
        b.send(frame("b", 1, []))
        assert proc.wait(timeout=60) == 0
        with open(mj) as f:
            m = json.load(f)
        assert (m["in"], m["out"], m["rejected"], m["drops"]) == \
            (600, 600, 1, 0), m
        print("ok: an oversized frame is rejected, its producer read again")
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        ctx.destroy(linger=0)
        shutil.rmtree(work, ignore_errors=True)


def slow_tap():
    work = tempfile.mkdtemp(prefix="flow-tap-")
    ctx = zmq.Context()
    procs = []
    try:
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.setsockopt(zmq.RCVHWM, 4)
        mon = sub.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        sub.connect("ipc://%s/tap" % work)
        mj = os.path.join(work, "m.json")
        # A long drain: the source's stop waits for the tap to write out
        # what it holds, however loaded the machine.
        gen = subprocess.Popen([
            GEN, "--count=1000000", "--pad=20", "--flow.drain-ms=60000",
            "--flow.output=ipc://%s/out" % work,
            "--flow.tap=ipc://%s/tap" % work, "--flow.metrics-json=" + mj])
        procs.append(gen)
        # The source waits for its consumer; the subscriber is there first
        # (the equation below holds wherever it starts, but it must see
        # some of the stream).
        assert wait_event(mon, zmq.EVENT_HANDSHAKE_SUCCEEDED,
                          time.time() + 60), "the tap never answered"
        sink = subprocess.Popen([
            PASS, "--flow.input=ipc://%s/out" % work, "--flow.eos-exit=1"])
        procs.append(sink)
        got, first, ended = 0, None, False
        deadline = time.time() + 120
        while not ended and time.time() < deadline:
            if not sub.poll(1000):
                continue
            events = msgpack.unpackb(sub.recv(), raw=False)[4]
            if not events:
                ended = True
                continue
            if first is None:
                first = events[0][4]
            got += len(events)
            # Slow while the stream runs: a million events do not fit in
            # the queues between, so the tap must refuse some.
            if sink.poll() is None:
                time.sleep(0.002)
        assert ended, "the tap's end of stream never came (%d events)" % got
        assert first is not None, "the subscriber saw none of the stream"
        assert gen.wait(timeout=60) == 0
        with open(mj) as f:
            m = json.load(f)
        sent = m["out"] - (first - 1)
        assert m["out"] == 1000000, m
        assert m["drops"] > 0, "the reader was never slow enough: %s" % m
        assert got + m["drops"] == sent, (got, m["drops"], sent)
        print("ok: tap received %d + drops %d == sent %d" %
              (got, m["drops"], sent))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        ctx.destroy(linger=0)
        shutil.rmtree(work, ignore_errors=True)


def stuck_tap_at_stop():
    """A subscriber that never reads while the app is stopped (SIGTERM):
    the stop waits a bounded time for the tap and ends with status 0,
    counting what ZeroMQ still held as dropped. Nothing is counted twice;
    what such a subscriber's socket held when the app hung up libzmq
    discards uncounted (docs/wire.md), at most what the socket buffers
    of the connection hold."""
    work = tempfile.mkdtemp(prefix="flow-tap-stop-")
    ctx = zmq.Context()
    procs = []
    try:
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"")
        sub.setsockopt(zmq.RCVHWM, 1)
        mon = sub.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        sub.connect("ipc://%s/tap" % work)
        mj = os.path.join(work, "m.json")
        gen = subprocess.Popen([
            GEN, "--pad=20", "--flow.output=ipc://%s/out" % work,
            "--flow.tap=ipc://%s/tap" % work, "--flow.metrics-json=" + mj])
        procs.append(gen)
        assert wait_event(mon, zmq.EVENT_HANDSHAKE_SUCCEEDED,
                          time.time() + 60), "the tap never answered"
        procs.append(subprocess.Popen([
            PASS, "--flow.input=ipc://%s/out" % work]))
        # The stream runs; the subscriber's queues fill and stay full.
        assert sub.poll(60000), "nothing on the tap"
        time.sleep(1)
        gen.terminate()
        assert gen.wait(timeout=60) == 0
        got, first = 0, None
        while sub.poll(2000):  # what reached us before the app went
            events = msgpack.unpackb(sub.recv(), raw=False)[4]
            if events and first is None:
                first = events[0][4]
            got += len(events)
        with open(mj) as f:
            m = json.load(f)
        sent = m["out"] - (first - 1)
        assert m["drops"] > 0, m
        lost = sent - got - m["drops"]
        # At most what a local socket's buffers hold (a few hundred KiB)
        # in frames of 256 events of about 60 bytes.
        assert 0 <= lost <= 64 * 256, (got, m["drops"], sent)
        print("ok: a stop with a stuck tap subscriber ends, %d + %d of %d "
              "counted" % (got, m["drops"], sent))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        ctx.destroy(linger=0)
        shutil.rmtree(work, ignore_errors=True)


oversized_frame()
slow_tap()
stuck_tap_at_stop()
