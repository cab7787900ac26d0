"""Seeds for flowctl's fuzz runs (tests/fuzz.py): seeds("tapdec") gives
valid tap frames, seeds("streamfile") stream files."""
import struct


def packb(v):
    """A small msgpack encoder (stdlib only, whatever python3 runs this)."""
    if v is None:
        return b"\xc0"
    if v is True or v is False:
        return b"\xc3" if v else b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        if v >= 0:
            return b"\xcf" + struct.pack(">Q", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        return (bytes([0xa0 | len(b)]) if len(b) < 32 else
                b"\xdb" + struct.pack(">I", len(b))) + b
    if isinstance(v, bytes):
        return b"\xc6" + struct.pack(">I", len(v)) + v
    if isinstance(v, list):
        return b"\xdd" + struct.pack(">I", len(v)) + b"".join(
            packb(x) for x in v)
    if isinstance(v, dict):
        return b"\xdf" + struct.pack(">I", len(v)) + b"".join(
            packb(k) + packb(x) for k, x in v.items())
    raise TypeError(type(v))


def tap_seeds():
    payload = packb({"type": "ACCOUNT_CREATED", "account": 7,
                             "amount": -5.5, "tags": ["a", "b"],
                             "raw": b"\x00\x01", "nested": {"k": None}})
    events = [[i, "ACCOUNT_CREATED", 1700000000000000 + i,
               "k" if i % 2 else None, i, payload] for i in range(1, 4)]
    yield packb([1, "src", 0, 12345, events])
    yield packb([1, "src", 3, 1, []])
    yield packb([1, "p", 0, 1, [[1, "T", -5, None, 1, b"\xc1"]]])
    # The compact forms (fixarray, fixstr, bin8, fixmap) apps really send.
    yield (b"\x95\x01\xa1s\x00\x01\x91\x96\x01\xa1T\x05\xc0\x01"
           b"\xc4\x04\x81\xa1a\x01")


def streamfile_seeds():
    yield (b"# demo\naccounts = load-sim --rate=1000 | account-events\n"
           b"    | counter --name=account-load\n\n"
           b"audit = :accounts.account-events > log\n")
    yield b"a = time | log --expression='x  y'\n  | b\n"
    yield b"  | orphan\nBad = x\nnoequals here\na =  \na = dup\n"


def seeds(kind):
    return tap_seeds() if kind == "tapdec" else streamfile_seeds()
