"""Seeds for the ingest fuzz run (tests/fuzz.py): request heads, JSON and
NDJSON bodies, a msgpack body and tcp frames of each framing."""
import struct

import msgpack


def seeds():
    yield (b"POST /ingest HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n"
           b"Content-Type: application/x-ndjson\r\n"
           b"Authorization: Bearer t\r\nConnection: close\r\n\r\n{\"id\":1}\n")
    yield b"GET /x?y=1 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
    yield b'[{"id": 1, "a": [1.5e3, -0, true, null]}, "s\\u00e9\\ud83d\\ude00"]'
    yield b'{"k": {"n": {"m": [[[]]]}}}\n\n{"id": 2}\r\n7\n'
    yield msgpack.packb({"id": 3, "tags": ["x", b"\x00", 2.5]})
    yield b"line one\nline two\r\nline three"
    yield struct.pack(">I", 3) + b"abc" + struct.pack(">I", 0)
