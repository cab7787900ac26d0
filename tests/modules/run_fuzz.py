#!/usr/bin/python3
"""Runs the modules' payload fuzz target: run_fuzz.py TARGET DICT RUNS.

Seeds (account event payloads, a nested map with a list, an
account-events snapshot) go into a temporary corpus, so nothing is written
into the source tree. Fails on any crash, leak or timeout."""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

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


def main():
    target, dictionary, runs = (os.path.abspath(sys.argv[1]),
                                os.path.abspath(sys.argv[2]), sys.argv[3])
    work = tempfile.mkdtemp(prefix="flow-fuzz-modules-")
    try:
        corpus = os.path.join(work, "corpus")
        os.mkdir(corpus)
        for i, s in enumerate(seeds()):
            with open(os.path.join(corpus, "seed%d" % i), "wb") as f:
                f.write(s)
        rc = subprocess.call([target, "-runs=" + runs, "-dict=" + dictionary,
                              "-max_len=4096", "-timeout=10",
                              "-rss_limit_mb=1024", "-print_final_stats=1",
                              "-artifact_prefix=" + work + "/", corpus],
                             cwd=work)
        if rc != 0:
            for name in os.listdir(work):
                if name.startswith(("crash-", "leak-", "timeout-", "oom-")):
                    with open(os.path.join(work, name), "rb") as f:
                        print("%s: %r" % (name, f.read()[:512]))
        # Any failure is 1: a sanitizer may exit 77, which meson would
        # report as a skipped test.
        return 1 if rc else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
