#!/usr/bin/env python3
"""The tcp sink against a listener in Python: `load-sim | tcp` with each
encoder; the listener comes up only after the sink has started, so that
the sink's first connection attempts fail and its backoff brings it in.
The listener must receive every event exactly once, framed as asked.

Run as: test_tcp_sink.py NAME (see TESTS)."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from flowd_harness import run
from test_checkpoint_apps import app_path

COUNT = 20000


class Listener:
    """Accepts connections on a port and keeps every byte received."""

    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(4)
        self.data = bytearray()
        self.connections = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.sock.accept()
        self.connections += 1
        with conn:
            while True:
                b = conn.recv(65536)
                if not b:
                    break
                self.data += b
        self.done.set()

    def close(self):
        self.sock.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def send(encoder):
    """Runs load-sim | tcp with the listener late; returns the bytes."""
    tmp = tempfile.mkdtemp(prefix="tcpsink")
    port = free_port()
    procs, lst = [], None
    try:
        ep = f"ipc://{tmp}/a"
        log = open(os.path.join(tmp, "tcp.log"), "w")
        procs.append(subprocess.Popen(
            [app_path("tcp-sink"), f"--port={port}", f"--encoder={encoder}",
             "--backoff=50ms", "--max-backoff=200ms", f"--flow.input={ep}",
             "--flow.eos-exit=1"], stdout=log, stderr=subprocess.STDOUT))
        procs.append(subprocess.Popen(
            [app_path("load-sim"), f"--count={COUNT}", "--seed=1",
             "--rate=0", f"--flow.output={ep}"]))
        time.sleep(0.5)  # the sink's first attempts find nobody
        lst = Listener(port)
        for p in procs:
            assert p.wait(120) == 0, p.args
        assert lst.done.wait(60), "the sink did not close its connection"
        log.close()
        with open(os.path.join(tmp, "tcp.log")) as f:
            text = f.read()
        assert "reconnecting" in text and "connected to" in text, text
        assert lst.connections == 1
        return bytes(lst.data)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(30)
        if lst:
            lst.close()
        shutil.rmtree(tmp, ignore_errors=True)


def check_events(payloads):
    assert len(payloads) == COUNT, len(payloads)
    events = [json.loads(p) for p in payloads]
    ids = {(e["account"], e["seq"]) for e in events}
    assert len(ids) == COUNT, f"{COUNT - len(ids)} events twice"


def lines(sep):
    data = send("LF" if sep == b"\n" else "CRLF")
    assert data.endswith(sep), data[-20:]
    parts = data[:-len(sep)].split(sep)
    if sep == b"\n":
        assert b"\r" not in data
    check_events(parts)


def length_prefixed():
    data = send("L4")
    payloads, at = [], 0
    while at < len(data):
        n = int.from_bytes(data[at:at + 4], "big")
        payloads.append(data[at + 4:at + 4 + n])
        at += 4 + n
    assert at == len(data), (at, len(data))
    check_events(payloads)


TESTS = {
    "lf": lambda: lines(b"\n"),
    "crlf": lambda: lines(b"\r\n"),
    "l4": length_prefixed,
}

if __name__ == "__main__":
    run(TESTS)
