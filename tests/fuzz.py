#!/usr/bin/python3
"""Runs one libFuzzer target for a fixed number of executions.

usage: fuzz.py TARGET RUNS [--dict FILE] [--seeds DIR]
               [--seed-script FILE [--seed-arg ARG]] [--max-len N]
               [--timeout S] [-- LIBFUZZER-FLAG...]

The corpus is a temporary directory (removed afterwards), filled from the
files of --seeds and from seeds(ARG) of --seed-script, a Python file whose
seeds() yields byte strings; nothing is ever written into the source tree.
Any crash, leak, timeout or out-of-memory the target reports fails the run
with exit status 1 (never 77, which meson would count as a skipped test),
and the offending input is printed."""
import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile


def load_seeds(script, arg):
    spec = importlib.util.spec_from_file_location("fuzz_seeds", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return list(mod.seeds(arg) if arg is not None else mod.seeds())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("runs")
    ap.add_argument("--dict")
    ap.add_argument("--seeds")
    ap.add_argument("--seed-script")
    ap.add_argument("--seed-arg")
    ap.add_argument("--max-len", default="4096")
    ap.add_argument("--timeout", default="60",
                    help="seconds for one input (the machine may be busy)")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = ap.parse_args(argv[:len(argv) - len(extra) - bool(extra)])

    work = tempfile.mkdtemp(prefix="flow-fuzz-")
    proc = None
    try:
        corpus = os.path.join(work, "corpus")
        os.mkdir(corpus)
        if args.seed_script:
            for i, s in enumerate(load_seeds(args.seed_script,
                                             args.seed_arg)):
                with open(os.path.join(corpus, "seed%d" % i), "wb") as f:
                    f.write(s)
        cmd = [os.path.abspath(args.target), "-runs=" + args.runs,
               "-max_len=" + args.max_len, "-timeout=" + args.timeout,
               "-rss_limit_mb=2048", "-print_final_stats=1",
               "-artifact_prefix=" + work + "/"]
        if args.dict:
            cmd.append("-dict=" + os.path.abspath(args.dict))
        cmd += extra + [corpus]
        if args.seeds:
            cmd.append(os.path.abspath(args.seeds))
        env = dict(os.environ)
        # A smaller quarantine keeps a million runs well inside the RSS
        # limit; leaks are still detected.
        env["ASAN_OPTIONS"] = ":".join(filter(None, [
            env.get("ASAN_OPTIONS", ""), "quarantine_size_mb=32"]))
        proc = subprocess.Popen(cmd, cwd=work, env=env)
        rc = proc.wait()
        if rc != 0:
            for name in sorted(os.listdir(work)):
                if name.startswith(("crash-", "leak-", "timeout-", "oom-")):
                    with open(os.path.join(work, name), "rb") as f:
                        print("artifact %s: %s" % (name, f.read().hex()))
        return 1 if rc else 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
