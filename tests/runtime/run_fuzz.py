#!/usr/bin/python3
"""Runs a libFuzzer target over generated seeds: run_fuzz.py TARGET DICT RUNS.

The seeds are valid wire frames and control messages (written with the
same layout docs/wire.md describes) in a temporary corpus directory, so the
run never writes into the source tree. Fails on any crash, leak or
timeout the target reports."""
import os
import shutil
import subprocess
import sys
import tempfile

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


def main():
    target = os.path.abspath(sys.argv[1])
    dictionary = os.path.abspath(sys.argv[2])
    runs = sys.argv[3]
    work = tempfile.mkdtemp(prefix="flow-fuzz-")
    try:
        corpus = os.path.join(work, "corpus")
        os.mkdir(corpus)
        for i, s in enumerate(seeds()):
            with open(os.path.join(corpus, "seed%d" % i), "wb") as f:
                f.write(s)
        cmd = [target, "-runs=" + runs, "-dict=" + dictionary,
               "-max_len=4096", "-timeout=10", "-rss_limit_mb=1024",
               "-print_final_stats=1",
               "-artifact_prefix=" + work + "/", corpus]
        rc = subprocess.call(cmd, cwd=work)
        if rc != 0:
            for name in os.listdir(work):
                if name.startswith(("crash-", "leak-", "timeout-", "oom-")):
                    print("artifact:", name,
                          open(os.path.join(work, name), "rb").read()[:256])
        # Any failure is 1: a sanitizer may exit 77, which meson would
        # report as a skipped test.
        sys.exit(1 if rc else 0)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
