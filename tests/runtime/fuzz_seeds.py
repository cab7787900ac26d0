"""Seeds for the wire and control decoder fuzz run (tests/fuzz.py): valid
wire frames and control messages, laid out as docs/wire.md describes."""
import msgpack


def seeds():
    payload = msgpack.packb({"type": "ACCOUNT_CREATED", "account": 7,
                             "amount": -5, "n": 3})
    events = [[i, "ACCOUNT_CREATED", 1700000000000000 + i,
               "k" if i % 2 else None, i, payload] for i in range(1, 4)]
    yield msgpack.packb([1, "src", 0, 12345, events])
    yield msgpack.packb([1, "src", 0, 12345, []])
    yield msgpack.packb({"t": "metrics", "in": 1, "lat_us": [[10, 1], [0, 2]]})
    yield msgpack.packb({"t": "counter", "kind": "counter", "name": "x",
                         "inc": 3, "seconds": {"1700000000": 3},
                         "values": {"a": 3}})
    yield msgpack.packb({"t": "connect", "port": "input",
                         "endpoint": "ipc:///x"})
    yield msgpack.packb({"t": "bye", "stream": "s", "label": "", "pid": -1,
                         "last_error": "x", "end": "input",
                         "seconds": {}, "values": {"": 0}})
    # Checkpoints: a barrier frame and the checkpoint control messages.
    yield msgpack.packb([1, "src", 0, 12345, [], 7])
    yield msgpack.packb({"t": "ckpt", "id": 7})
    yield msgpack.packb({"t": "ack", "id": 7, "stream": "s", "label": "l",
                         "instance": 0, "bytes": 100})
    yield msgpack.packb({"t": "decline", "id": 7, "reason": "disk full"})
    yield msgpack.packb({"t": "counter", "kind": "counter", "name": "x",
                         "ckpt": 7, "total": 9, "seconds": {"1700000000": 9}})
