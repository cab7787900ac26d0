#!/usr/bin/env python3
"""Feedback channels on the app side, without flowd (docs/apps.md
"Checkpoints", cycles): a test-sink reads two producer channels, p0 and
the feedback channel p1 (--flow.feedback=p1), under exactly-once, driven
by the small coordinator of test_checkpoint_apps.py. Barrier 1 from p0
alone takes the snapshot; p1's frames after it are processed and
recorded, and checkpoint 1 is acknowledged only after p1's barrier 1,
with those frames in the snapshot's channel state. Restored in a newer
epoch, the sink processes the recorded frames (of the old epoch) before
anything new.

Run as: test_feedback_apps.py NAME (see TESTS)."""

import os
import shutil
import subprocess
import tempfile
import time

import msgpack
import zmq

from flowd_harness import run, wait_for
from test_checkpoint_apps import (STREAM, Coordinator, snap_file,
                                  test_sink_path)
import struct
import zlib


def read_snap7(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"FLOWSNP1", f"{path}: bad magic"
    crc, reserved = struct.unpack(">II", data[8:16])
    assert reserved == 0 and crc == zlib.crc32(data[16:]) & 0xFFFFFFFF
    return msgpack.unpackb(data[16:], raw=True, strict_map_key=False)


class Channels:
    """Two PUSH sockets the sink reads, p0 and p1, in one epoch."""

    def __init__(self, tmp, epoch):
        self.ctx = zmq.Context.instance()
        self.socks = []
        for i in range(2):
            s = self.ctx.socket(zmq.PUSH)
            s.setsockopt(zmq.LINGER, 0)
            s.bind(f"ipc://{tmp}/in{i}")
            self.socks.append(s)
        self.epoch = epoch
        self.seq = {0: 0, 1: 0}
        self.sent = 0
        self.payload = msgpack.packb({"x": 1}, use_bin_type=True)

    def send(self, ch, frame):
        data = msgpack.packb(frame, use_bin_type=True)
        self.sent += len(data)
        self.socks[ch].send(data)

    def events(self, ch, n):
        evs = []
        for _ in range(n):
            self.seq[ch] += 1
            evs.append([self.seq[ch], "T", int(time.time() * 1e6), "k",
                        self.seq[ch], self.payload])
        self.send(ch, [1, f"p{ch}", 0, self.epoch, evs])

    def barrier(self, ch, n):
        self.send(ch, [1, f"p{ch}", 0, self.epoch, [], n])

    def end(self, ch):
        self.send(ch, [1, f"p{ch}", 0, self.epoch, []])

    def close(self):
        for s in self.socks:
            s.close(0)


def sink(tmp, epoch, *extra):
    log = open(os.path.join(tmp, f"sink{epoch}.log"), "w")
    p = subprocess.Popen(
        [test_sink_path(), "--flow.label=counter",
         f"--flow.input=ipc://{tmp}/in0,ipc://{tmp}/in1",
         f"--flow.control=ipc://{tmp}/ctl", f"--flow.stream={STREAM}",
         "--flow.guarantee=exactly-once", "--flow.upstreams=1",
         "--flow.feedback=p1", f"--flow.epoch={epoch}",
         f"--flow.checkpoint-dir={tmp}/ck", "--flow.drain-ms=20000",
         *extra], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return p


def received(body):
    return next(c[2] for c in body[5] if c[1] == b"received")


def record_then_restore():
    tmp = tempfile.mkdtemp(prefix="fbapps")
    chans, proc, co = None, None, None
    try:
        co = Coordinator(f"ipc://{tmp}/ctl", expect=1)
        chans = Channels(tmp, 1)
        proc = sink(tmp, 1)
        wait_for("hello", lambda: co.peers, timeout=30)
        def all_read():
            wait_for("the frames read", lambda: co.metrics.get(
                "counter", {}).get("bytes_in", 0) >= chans.sent, timeout=30)

        chans.events(0, 3)
        chans.events(1, 2)
        all_read()
        chans.barrier(0, 1)  # aligned: p1 is not waited for
        all_read()
        chans.events(1, 4)   # after the snapshot: recorded
        chans.events(0, 1)   # p0's: neither recorded nor held back
        all_read()
        assert 1 not in co.acks, "acked before the feedback barrier came"
        chans.barrier(1, 1)
        wait_for("checkpoint 1", lambda: 1 in co.complete, timeout=30)
        chans.events(1, 7)   # after p1's barrier: not recorded
        body = read_snap7(snap_file(tmp + "/ck", 1, "counter"))
        assert len(body) == 7, body
        assert received(body) == 5, received(body)
        state = [msgpack.unpackb(f, raw=True) for f in body[6]]
        assert len(state) == 1, state
        assert [e[0] for e in state[0][4]] == [3, 4, 5, 6], state
        for ch in range(2):
            chans.end(ch)
        assert proc.wait(30) == 0
        wait_for("bye", lambda: "counter" in co.bye, timeout=10)
        assert co.bye["counter"]["in"] == 3 + 2 + 4 + 1 + 7, co.bye
        chans.close()
        co.close()

        # Restored in epoch 2: the four recorded events of epoch 1 count
        # (not fenced), then the new ones; the old epoch's frames that
        # come now are fenced.
        co = Coordinator(f"ipc://{tmp}/ctl", expect=1)
        chans = Channels(tmp, 1)
        proc = sink(tmp, 2, "--flow.restore=" +
                    snap_file(tmp + "/ck", 1, "counter"))
        wait_for("hello", lambda: co.peers, timeout=30)
        chans.events(1, 9)  # a zombie's: fenced
        chans.epoch = 2
        chans.events(0, 2)
        chans.end(0)
        chans.end(1)
        assert proc.wait(30) == 0
        wait_for("bye", lambda: "counter" in co.bye, timeout=10)
        bye = co.bye["counter"]
        assert bye["in"] == 4 + 2, bye
        assert bye.get("fenced") == 1, bye
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait(30)
        if chans:
            chans.close()
        if co:
            co.close()
        shutil.rmtree(tmp, ignore_errors=True)


TESTS = {
    "record_then_restore": record_then_restore,
}

if __name__ == "__main__":
    run(TESTS)
