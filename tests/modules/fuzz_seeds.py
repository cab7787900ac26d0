"""Seeds for the modules' payload fuzz run (tests/fuzz.py): account event
payloads, a nested map with a list, an account-events snapshot."""
import struct

import msgpack


def seeds():
    yield msgpack.packb({"type": "ACCOUNT_DEPOSITED", "account": 7, "seq": 3,
                         "ts": 1709211909042, "amount": 500})
    yield msgpack.packb({"tags": ["a", "b", 1, None, True, 2.5],
                         "a": {"b": -3}, "nested": {"k": {"x": b"\x00"}},
                         "ts": "2024-02-29T13:05:09.5Z", 7: [1, {"q": 1}]})
    snap = b"FLOWACC1" + struct.pack("<Q", 2)
    for i in (1, 2):
        snap += struct.pack("<QQq", i, i + 3, 100 * i) + bytes([3])
    yield snap
