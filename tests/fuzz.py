#!/usr/bin/python3
"""Runs one libFuzzer target deterministically, for the test suite.

usage: fuzz.py TARGET RUNS [--corpus DIR]... [--regressions DIR]
               [--seed-script FILE [--seed-arg ARG]] [--dict FILE]
               [--max-len N] [--timeout S] [--seed N]
               [--explore SECONDS --out DIR] [-- LIBFUZZER-FLAG...]

First every file of --regressions (inputs that once failed, committed with
their fix) is run once; any failure there fails the test. Then the target
runs RUNS executions with the fixed -seed (1 unless --seed says otherwise)
over a temporary corpus filled from the files of each --corpus directory
and from seeds(ARG) of --seed-script, a Python file whose seeds() yields
byte strings, with address-space randomisation off and no corpus reload.
The same tree, build and flags give the same run, so a failure is a
regression, never the luck of a seed.

With --explore SECONDS (used by tests/fuzz-explore) the target instead
runs for that long with a random seed, and whatever it finds is copied
into --out DIR.

Nothing is ever written into the source tree: the corpus lives in a
temporary directory that is removed afterwards. Any crash, leak, timeout
or out-of-memory fails the run with exit status 1 (never 77, which meson
would count as a skipped test), and the offending input is printed."""
import argparse
import ctypes
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time

ARTIFACTS = ("crash-", "leak-", "timeout-", "oom-", "slow-unit-")


def load_seeds(script, arg):
    spec = importlib.util.spec_from_file_location("fuzz_seeds", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return list(mod.seeds(arg) if arg is not None else mod.seeds())


def input_files(d):
    """The inputs of a directory, in a fixed order; README files are notes,
    not inputs."""
    if not d or not os.path.isdir(d):
        return []
    d = os.path.abspath(d)
    return [os.path.join(d, n) for n in sorted(os.listdir(d))
            if not n.startswith(("README", "."))
            and os.path.isfile(os.path.join(d, n))]


ADDR_NO_RANDOMIZE = 0x0040000


def fixed_addresses():
    """In the child: turns address-space randomisation off. libFuzzer feeds
    the operands of the target's comparisons, pointers among them, back
    into its mutations, so with random addresses the same seed still
    makes a different run."""
    libc = ctypes.CDLL(None, use_errno=True)
    old = libc.personality(0xffffffff)
    if old == -1 or libc.personality(old | ADDR_NO_RANDOMIZE) == -1:
        os.write(2, b"fuzz.py: cannot turn address randomisation off; "
                 b"this run may differ from the next\n")


def run(cmd, work, env, deterministic=True):
    proc = subprocess.Popen(cmd, cwd=work, env=env,
                            preexec_fn=fixed_addresses if deterministic
                            else None)
    try:
        return proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def show_artifacts(work):
    for name in sorted(os.listdir(work)):
        if name.startswith(ARTIFACTS):
            with open(os.path.join(work, name), "rb") as f:
                print("artifact %s: %s" % (name, f.read().hex()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("runs")
    ap.add_argument("--dict")
    ap.add_argument("--corpus", "--seeds", action="append", default=[],
                    help="a directory of committed corpus inputs")
    ap.add_argument("--regressions",
                    help="a directory of inputs replayed first")
    ap.add_argument("--seed-script")
    ap.add_argument("--seed-arg")
    ap.add_argument("--seed", default="1", help="libFuzzer's -seed")
    ap.add_argument("--max-len", default="4096")
    ap.add_argument("--timeout", default="60",
                    help="seconds for one input (the machine may be busy)")
    ap.add_argument("--explore", type=int, metavar="SECONDS")
    ap.add_argument("--out", help="where --explore copies its findings")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = ap.parse_args(argv[:len(argv) - len(extra) - bool(extra)])
    if args.explore and not args.out:
        ap.error("--explore needs --out DIR")

    target = os.path.abspath(args.target)
    base = [target, "-max_len=" + args.max_len, "-timeout=" + args.timeout,
            "-rss_limit_mb=2048",
            # One allocation over 256 MiB from an input of a few KiB is the
            # unbounded growth these targets must never show.
            "-malloc_limit_mb=256"]
    if args.dict:
        base.append("-dict=" + os.path.abspath(args.dict))
    env = dict(os.environ)
    # A smaller quarantine keeps a million runs well inside the RSS
    # limit; leaks are still detected.
    env["ASAN_OPTIONS"] = ":".join(filter(None, [
        env.get("ASAN_OPTIONS", ""), "quarantine_size_mb=32"]))

    work = tempfile.mkdtemp(prefix="flow-fuzz-")
    try:
        started = time.monotonic()
        regressions = input_files(args.regressions)
        if regressions:
            print("replaying %d regression inputs of %s" %
                  (len(regressions), args.regressions), flush=True)
            rc = run(base + ["-artifact_prefix=" + work + "/"] + extra +
                     regressions, work, env)
            if rc != 0:
                show_artifacts(work)
                print("FAIL: a regression input fails again")
                return 1
        elif args.regressions:
            print("no regression inputs in %s yet" % args.regressions)

        corpus = os.path.join(work, "corpus")
        os.mkdir(corpus)
        n = 0
        for d in args.corpus:
            files = input_files(d)
            if not files:
                print("FAIL: corpus directory %s has no inputs" % d)
                return 1
            for path in files:
                shutil.copyfile(path, os.path.join(corpus, "c%04d" % n))
                n += 1
        if args.seed_script:
            for s in load_seeds(args.seed_script, args.seed_arg):
                with open(os.path.join(corpus, "c%04d" % n), "wb") as f:
                    f.write(s)
                n += 1

        found = os.path.join(work, "found")
        os.mkdir(found)
        cmd = base + ["-print_final_stats=1",
                      "-artifact_prefix=" + found + "/"]
        if args.explore:
            cmd += ["-seed=0", "-max_total_time=%d" % args.explore,
                    "-runs=-1"]
        else:
            # Nothing else writes to the corpus: rereading it every second
            # would only make the run depend on time.
            cmd += ["-seed=" + args.seed, "-runs=" + args.runs, "-reload=0"]
        rc = run(cmd + extra + [corpus], work, env,
                 deterministic=not args.explore)
        print("fuzz: %s, %d corpus inputs, %.0f s" %
              (os.path.basename(target), n, time.monotonic() - started))
        if args.explore:
            names = os.listdir(found)
            if names:
                os.makedirs(args.out, exist_ok=True)
                for name in names:
                    shutil.copyfile(os.path.join(found, name),
                                    os.path.join(args.out, name))
                print("%d findings copied to %s" % (len(names), args.out))
        if rc != 0:
            show_artifacts(found)
        return 1 if rc else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
