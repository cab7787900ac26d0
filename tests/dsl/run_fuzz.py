#!/usr/bin/env python3
"""Run a libFuzzer target for a fixed number of executions.

usage: run_fuzz.py FUZZER DICT SEEDS RUNS

New inputs go to a temporary corpus directory (removed afterwards), never
into the source tree; SEEDS is only read. Exits non-zero on any crash,
leak or timeout that libFuzzer reports.
"""
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    fuzzer, dictionary, seeds, runs = sys.argv[1:5]
    work = tempfile.mkdtemp(prefix="flow-fuzz-")
    proc = None
    try:
        cmd = [fuzzer, "-runs=" + runs, "-dict=" + dictionary,
               "-max_len=160", "-entropic=0", "-timeout=10", "-rss_limit_mb=2048",
               "-print_final_stats=1", "-artifact_prefix=" + work + "/",
               work, seeds]
        env = dict(os.environ)
        # A smaller quarantine keeps a million runs well inside the RSS
        # limit; leaks are still detected.
        env["ASAN_OPTIONS"] = ":".join(filter(None, [
            env.get("ASAN_OPTIONS", ""), "quarantine_size_mb=32"]))
        proc = subprocess.Popen(cmd, env=env)
        rc = proc.wait()
        if rc != 0:
            for name in os.listdir(work):
                if name.startswith(("crash-", "leak-", "timeout-", "oom-")):
                    with open(os.path.join(work, name), "rb") as f:
                        print("artifact %s: %r" % (name, f.read()[:400]))
        # Any failure is 1: libFuzzer and the sanitizers may exit 77,
        # which meson would report as a skipped test.
        return 1 if rc else 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
