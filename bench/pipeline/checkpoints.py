"""What flowd's checkpoint coordinator does for one linear pipeline, for
the benchmark: a `ckpt` to the source every interval (one in flight), a
`ckpt_done` to every app once all of them acknowledged (docs/apps.md,
"Checkpoints"). It runs in a thread beside the apps, over the control
protocol they speak to flowd; pyzmq and msgpack (python3-zmq,
python3-msgpack) are the only modules it needs beyond the standard
library."""
import threading
import time

import msgpack
import zmq


class Coordinator:
    def __init__(self, endpoint, apps, interval=1.0):
        self.sock = zmq.Context.instance().socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(endpoint)
        self.apps = apps  # how many instances ack each checkpoint
        self.interval = interval
        self.peers, self.source = {}, None
        self.acks, self.complete, self.declined = {}, 0, 0
        self.inflight, self.next_id = None, 1
        self.stop = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def send(self, ident, msg):
        self.sock.send_multipart([ident, msgpack.packb(msg)])

    def loop(self):
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        last = time.monotonic()
        while not self.stop:
            if poller.poll(10):
                while True:
                    try:
                        ident, data = self.sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self.handle(ident, msgpack.unpackb(data, raw=False))
            now = time.monotonic()
            if self.source and not self.inflight and \
                    now - last >= self.interval:
                last = now
                self.inflight, self.next_id = self.next_id, self.next_id + 1
                self.send(self.source, {"t": "ckpt", "id": self.inflight})

    def handle(self, ident, m):
        t = m.get("t")
        if t == "hello":
            self.peers[(m.get("label"), m.get("instance"))] = ident
            if m.get("role") == "source":
                self.source = ident
        elif t == "ack":
            n = m["id"]
            self.acks.setdefault(n, set()).add((m.get("label"),
                                                m.get("instance")))
            if len(self.acks[n]) == self.apps:
                self.complete = max(self.complete, n)
                if self.inflight == n:
                    self.inflight = None
                for p in self.peers.values():
                    self.send(p, {"t": "ckpt_done", "id": n})
        elif t == "decline":
            self.declined += 1
            if self.inflight == m.get("id"):
                self.inflight = None

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close(0)
