"""flowclient: produce into and consume from flow's named destinations.

A small client for programs outside flow, with pyzmq and msgpack only
(Debian: python3-zmq, python3-msgpack). It asks flowd's REST API for the
endpoints (docs/rest.md "Destinations") and speaks the wire format
(docs/wire.md) itself:

    import flowclient
    c = flowclient.Client("http://127.0.0.1:9393", token=TOKEN)
    with c.consume("ext-out", "mine", count=1) as events:  # own copy
        c.produce("ext-in", [{"type": "ACCOUNT_CREATED",
                              "key": "7",
                              "payload": {"account": 7, "seq": 1}}])
        for e in events:
            print(e["type"], e["payload"])

produce() sends at-least-once at best: an outside producer sends no
barriers, so a stream under exactly-once treats what it sent like any
source without a replayable log, and what was in flight when an app
failed may be lost or, after a retry, seen twice. consume() gets its own
copy of everything the destination's producers send from the moment its
consumer group exists, and ends at end of stream (every producer it reads
sent one), after count events, or after idle seconds without an event.

The token is TOKEN, else $FLOW_TOKEN, else the file "token" of the data
directory (data_dir, else $FLOW_DATA_DIR), as flowctl finds it. On a
tcp:// endpoint the client speaks CURVE with flowd's keys, which only
flowd's user can read (DATA/flowd.keys; docs/security.md).
"""

import collections
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request

import msgpack
import zmq
import zmq.utils.monitor

WIRE_VERSION = 1
BATCH = 256  # events per frame, as the apps' default --flow.batch-max


class FlowError(Exception):
    """flowd refused a request: status is the HTTP status, body its
    error JSON (or text)."""

    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


def _read_keys(path):
    keys = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and not line.startswith("#"):
                keys[parts[0]] = parts[1]
    return keys


class Client:
    """One flowd: base is its URL (default $FLOW_SERVER, else
    http://127.0.0.1:9393)."""

    def __init__(self, base=None, token=None, data_dir=None):
        self.base = (base or os.environ.get("FLOW_SERVER") or
                     "http://127.0.0.1:9393").rstrip("/")
        self.data_dir = data_dir or os.environ.get("FLOW_DATA_DIR")
        self.token = token or os.environ.get("FLOW_TOKEN")
        if not self.token and self.data_dir:
            try:
                with open(os.path.join(self.data_dir, "token")) as f:
                    self.token = f.read().strip()
            except FileNotFoundError:
                pass
        self.ctx = zmq.Context.instance()

    # REST

    def request(self, method, path, body=None):
        """Calls flowd; returns the decoded JSON (None for no body)."""
        h = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base + path, data=data,
                                     method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                text = r.read()
        except urllib.error.HTTPError as e:
            raise FlowError(e.code, e.read().decode(errors="replace"))
        return json.loads(text) if text else None

    def destination(self, name):
        """GET /streams/destinations/NAME."""
        return self.request("GET", "/streams/destinations/" +
                            urllib.parse.quote(name))

    def _curve(self, sock, server):
        """Sets CURVE on sock for a tcp:// endpoint: as the server with
        flowd's server keys (a producer binds), else as a client with
        flowd's client keys."""
        if not self.data_dir:
            raise FlowError(0, "a tcp:// endpoint needs CURVE keys: pass "
                            "data_dir (flowd's data directory)")
        k = _read_keys(os.path.join(self.data_dir, "flowd.keys"))
        if server:
            sock.curve_server = True
            sock.curve_secretkey = k["server-secret"].encode()
            sock.curve_publickey = k["server-public"].encode()
        else:
            sock.curve_serverkey = k["server-public"].encode()
            sock.curve_publickey = k["public"].encode()
            sock.curve_secretkey = k["secret"].encode()

    # Producing

    def _taken_in(self, destination):
        """{group: events its streams' first apps took in} for the stream
        consumer groups of destination (outside groups report nothing)."""
        d = self.destination(destination)
        taken = {}
        for g in d["groups"]:
            if g["outside"]:
                continue
            n = 0
            for st in g["streams"]:
                if not st["deployed"]:
                    continue
                dep = self.request("GET", "/streams/deployments/" +
                                   urllib.parse.quote(st["stream"]))
                if dep.get("apps"):
                    n += sum(i.get("in", 0)
                             for i in dep["apps"][0]["instances"])
            taken[g["group"]] = n
        return taken

    def produce(self, destination, events, producer="flowclient",
                drain=10.0):
        """Sends events (an iterable of dicts: "type", "payload", and
        optionally "key", "id" and "ts_us") into destination, then end of
        stream. Returns how many were sent.

        flowd gives the producer an endpoint (POST .../producers) that
        the first app of every stream reading the destination connects
        to; this binds a PUSH socket there. A send waits while no
        consumer is connected or the consumers are full (backpressure),
        so nothing is dropped here. After end of stream the socket stays
        open (libzmq discards what a consumer's queue still holds when
        its producer hangs up) until every consumer has disconnected,
        the first apps of every stream group reading the destination
        have taken in as many events more as were sent (their "in", as
        flowd reports it once a second; other producers make that come
        sooner), or drain seconds have passed; then the producer is
        removed (DELETE).
        Ids default to 1, 2, 3, ...; the epoch is the start time in
        microseconds."""
        dest = urllib.parse.quote(destination)
        p = self.request("POST", f"/streams/destinations/{dest}/producers",
                         {"producer": producer})
        ep = p["endpoint"]
        base = self._taken_in(destination)
        sock = self.ctx.socket(zmq.PUSH)
        mon = None
        try:
            if ep.startswith("tcp://"):
                self._curve(sock, server=True)
            sock.sndhwm = 8
            mon = sock.get_monitor_socket(zmq.EVENT_ACCEPTED |
                                          zmq.EVENT_DISCONNECTED)
            sock.bind(ep)
            epoch = time.time_ns() // 1000
            seq = 0
            batch = []
            peers = 0

            def watch():
                nonlocal peers
                while mon.poll(0):
                    ev = zmq.utils.monitor.recv_monitor_message(mon)
                    if ev["event"] == zmq.EVENT_ACCEPTED:
                        peers += 1
                    elif ev["event"] == zmq.EVENT_DISCONNECTED:
                        peers -= 1

            def send(evs):
                sock.send(msgpack.packb([WIRE_VERSION, producer, 0, epoch,
                                         evs], use_bin_type=True))
            for e in events:
                seq += 1
                payload = msgpack.packb(e.get("payload"), use_bin_type=True)
                batch.append([e.get("id", seq), e["type"],
                              e.get("ts_us") or time.time_ns() // 1000,
                              e.get("key"), seq, payload])
                if len(batch) == BATCH:
                    send(batch)
                    batch = []
            if batch:
                send(batch)
            # End of stream: one copy per connected consumer (PUSH gives
            # each message to one of them); receivers count it once.
            watch()
            for _ in range(max(peers, 1)):
                send([])
            deadline = time.monotonic() + drain
            while time.monotonic() < deadline:
                watch()
                if peers <= 0:
                    break
                now = self._taken_in(destination)
                if now and all(now[g] - base.get(g, 0) >= seq for g in now):
                    break
                time.sleep(0.2)
            return seq
        finally:
            try:
                self.request("DELETE",
                             f"/streams/destinations/{dest}/producers/"
                             f"{urllib.parse.quote(producer)}")
            except (FlowError, OSError):
                pass
            if mon is not None:
                sock.disable_monitor()
                mon.close(linger=0)
            sock.close(linger=int(drain * 1000))

    # Consuming

    def consume(self, destination, group, count=None, idle=None,
                keep=False):
        """A Consumer of destination's consumer group group: its own copy
        of what the destination's producers send from now on. Iterate it
        (it ends at end of stream, after count events or after idle
        seconds without one); close it (or use it in a with block) to
        remove the group, unless keep."""
        return Consumer(self, destination, group, count, idle, keep)


class Consumer:
    """Events of one outside consumer group (see Client.consume). Each
    event is a dict: id, type, ts_us, key, seq, payload (decoded), and the
    producer, instance and epoch of its batch."""

    def __init__(self, client, destination, group, count, idle, keep):
        self.client = client
        self.dest = urllib.parse.quote(destination)
        self.group = group
        self.count = count
        self.idle = idle
        self.keep = keep
        self.received = 0
        self.pending = collections.deque()  # events of the last batch not yet yielded
        self.ended = set()  # (producer, instance) that sent end of stream
        self.sock = None
        g = client.request("POST", f"/streams/destinations/{self.dest}/"
                           "groups", {"group": group})
        self.sock = client.ctx.socket(zmq.PULL)
        self.sock.rcvhwm = 8
        self.sock.maxmsgsize = 16 * 1024 * 1024
        self.connected = {}  # endpoint -> (stream, app, instance)
        self._connect(g["endpoints"])
        self.last_refresh = time.monotonic()

    def _connect(self, endpoints):
        for e in endpoints:
            ep = e["endpoint"]
            if ep in self.connected:
                continue
            if ep.startswith("tcp://"):
                self.client._curve(self.sock, server=False)
            self.sock.connect(ep)
            self.connected[ep] = (e.get("stream"), e.get("app"),
                                  e.get("instance"))

    def _refresh(self):
        """Connects to the group's endpoints that appeared (a producer
        scaled up, restarted on a new port, or deployed later)."""
        d = self.client.request("GET",
                                f"/streams/destinations/{self.dest}")
        for g in d["groups"]:
            if g["group"] == self.group and g["outside"]:
                self._connect(g["endpoints"])
        self.last_refresh = time.monotonic()

    def _all_ended(self):
        # A producer's frames name it by its app, or under a guarantee by
        # STREAM.APP (flowd's --flow.producer-id).
        def ended(stream, app, instance):
            return (app, instance) in self.ended or \
                (f"{stream}.{app}", instance) in self.ended
        return bool(self.connected) and all(
            ended(*p) for p in self.connected.values())

    def __iter__(self):
        last_event = time.monotonic()
        while self.count is None or self.received < self.count:
            if self.pending:
                self.received += 1
                yield self.pending.popleft()
                continue
            if time.monotonic() - self.last_refresh >= 1.0:
                self._refresh()
            if not self.sock.poll(200):
                if self.idle is not None and \
                        time.monotonic() - last_event >= self.idle:
                    return
                continue
            frame = msgpack.unpackb(self.sock.recv(), raw=False)
            if frame[0] != WIRE_VERSION:
                raise FlowError(0, f"wire version {frame[0]} is not "
                                f"{WIRE_VERSION}")
            version, producer, instance, epoch, events = frame[:5]
            if len(frame) > 5:
                # A checkpoint barrier (docs/wire.md): an outside consumer
                # takes part in no checkpoint, so it has nothing to do.
                continue
            if not events:
                # End of stream, maybe sent more than once: counted once.
                self.ended.add((producer, instance))
                if self._all_ended():
                    return
                continue
            last_event = time.monotonic()
            # Kept here, so that a count ending inside a batch leaves the
            # rest of it for the next iteration.
            self.pending.extend([
                {"id": id_, "type": type_, "ts_us": ts_us, "key": key,
                 "seq": seq, "payload": msgpack.unpackb(payload, raw=False),
                 "producer": producer, "instance": instance, "epoch": epoch}
                for id_, type_, ts_us, key, seq, payload in events])

    def close(self):
        if self.sock is not None:
            self.sock.close(linger=0)
            self.sock = None
        if not self.keep:
            try:
                self.client.request(
                    "DELETE", f"/streams/destinations/{self.dest}/groups/"
                    f"{urllib.parse.quote(self.group)}")
            except (FlowError, OSError):
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def produce(destination, events, **kw):
    """Client().produce with the server, token and data directory from
    $FLOW_SERVER, $FLOW_TOKEN and $FLOW_DATA_DIR."""
    return Client().produce(destination, events, **kw)


def consume(destination, group, **kw):
    """Client().consume likewise."""
    return Client().consume(destination, group, **kw)
