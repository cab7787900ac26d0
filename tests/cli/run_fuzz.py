#!/usr/bin/python3
"""Runs one of flowctl's libFuzzer targets over generated seeds:
run_fuzz.py TARGET tapdec|streamfile RUNS.

The seeds (valid tap frames, or stream files) go into a temporary corpus
directory, so the run never writes into the source tree. Fails on any
crash, leak or timeout the target reports (60 s for one input, since the
machine may be busy; a loop that never ends is still caught)."""
import os
import shutil
import subprocess
import sys
import struct
import tempfile


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
    msgpack = sys.modules[__name__]
    payload = msgpack.packb({"type": "ACCOUNT_CREATED", "account": 7,
                             "amount": -5.5, "tags": ["a", "b"],
                             "raw": b"\x00\x01", "nested": {"k": None}})
    events = [[i, "ACCOUNT_CREATED", 1700000000000000 + i,
               "k" if i % 2 else None, i, payload] for i in range(1, 4)]
    yield msgpack.packb([1, "src", 0, 12345, events])
    yield msgpack.packb([1, "src", 3, 1, []])
    yield msgpack.packb([1, "p", 0, 1, [[1, "T", -5, None, 1, b"\xc1"]]])
    # The compact forms (fixarray, fixstr, bin8, fixmap) apps really send.
    yield (b"\x95\x01\xa1s\x00\x01\x91\x96\x01\xa1T\x05\xc0\x01"
           b"\xc4\x04\x81\xa1a\x01")


def streamfile_seeds():
    yield (b"# demo\naccounts = load-sim --rate=1000 | account-events\n"
           b"    | counter --name=account-load\n\n"
           b"audit = :accounts.account-events > log\n")
    yield b"a = time | log --expression='x  y'\n  | b\n"
    yield b"  | orphan\nBad = x\nnoequals here\na =  \na = dup\n"


def main():
    target, kind, runs = os.path.abspath(sys.argv[1]), sys.argv[2], sys.argv[3]
    seeds = tap_seeds if kind == "tapdec" else streamfile_seeds
    work = tempfile.mkdtemp(prefix="flowctl-fuzz-")
    try:
        corpus = os.path.join(work, "corpus")
        os.mkdir(corpus)
        for i, s in enumerate(seeds()):
            with open(os.path.join(corpus, "seed%d" % i), "wb") as f:
                f.write(s)
        # Stream files are small; 1 KiB holds every construct many times
        # over. A tap frame of 512 bytes holds several events with every
        # msgpack type; longer ones only slow a million runs down.
        max_len = "1024" if kind == "streamfile" else "512"
        cmd = [target, "-runs=" + runs, "-max_len=" + max_len, "-timeout=60",
               "-rss_limit_mb=1024", "-print_final_stats=1",
               "-artifact_prefix=" + work + "/", corpus]
        if kind == "streamfile":
            d = os.path.join(work, "dict")
            with open(d, "w") as f:
                for tok in ("=", "|", "\\x0A", "\\x0A  ", "#", "'",
                            "\\\"", ":", ">", "--", "a", "-", "\\x09",
                            " = "):
                    f.write('"%s"\n' % tok)
            cmd.insert(1, "-dict=" + d)
        rc = subprocess.call(cmd, cwd=work)
        if rc != 0:
            for name in os.listdir(work):
                if name.startswith(("crash-", "leak-", "timeout-", "oom-")):
                    print("artifact:", name,
                          open(os.path.join(work, name), "rb").read().hex())
        # Any failure is 1: libFuzzer and the sanitizers may exit 77,
        # which meson would report as a skipped test.
        sys.exit(1 if rc else 0)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
