#!/usr/bin/python3
"""End-to-end runs of the account pipeline with no server.

    e2e.py MODE --apps DIR --expect EXE [--count N] [--mem-limit-kib K]

MODE is one of:
  ipc     load-sim | account-events | SINK as three processes over ipc://,
          once per sink (field-value-counter of state, of type, counter);
  inproc  the same pipeline in one process over inproc:// (flow-host);
  slow    a slow counter (--delay-us) that must slow the source down, with
          exact counts and bounded memory in every process;
  bridge  load-sim | bridge | counter: every event passed on once;
  scaled  load-sim into two counter instances sharing its output: both
          get the end of stream and exit, their totals sum to the count;
  groups  load-sim with two output groups, one read by a counter and one
          by two counters sharing it: the first gets every event, the two
          together too, and all three end.

The expected counts come from test-modules-expect, which replays the
generator through the state machine independently of the pipeline. Every
process started is killed on the way out, whatever happens.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

SEED, ACCOUNTS, ILLEGAL = 7, 5000, 0.02
TIMEOUT_S = int(os.environ.get("E2E_TIMEOUT", "55"))

procs = []


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def start(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    procs.append(p)
    return p


def kill_all():
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def vm_hwm_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def wait_all(ps, deadline, hwm):
    """Waits for every process, sampling each one's peak RSS meanwhile."""
    while True:
        for p in ps:
            if p.poll() is None:
                v = vm_hwm_kib(p.pid)
                if v is not None:
                    hwm[p.pid] = max(hwm.get(p.pid, 0), v)
        if all(p.poll() is not None for p in ps):
            break
        if time.monotonic() > deadline:
            fail("timed out after %d s; still running: %s" % (
                TIMEOUT_S, [p.args[0] for p in ps if p.poll() is None]))
        time.sleep(0.02)
    for p in ps:
        if p.returncode != 0:
            fail("%s exited with %d" % (p.args, p.returncode))


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        fail("cannot read metrics %s: %s" % (path, e))


def check_eq(what, got, want):
    if got != want:
        fail("%s: got %r, want %r" % (what, got, want))
    print("ok   %s = %r" % (what, got if not isinstance(got, dict)
                             else "{%d values}" % len(got)))


def counter_of(metrics, kind):
    cs = [c for c in metrics["counters"] if c["kind"] == kind]
    if len(cs) != 1:
        fail("expected one %s in %s" % (kind, metrics["counters"]))
    return cs[0]


def check_run(tmp, exp, sink):
    src, ae, snk = (load(os.path.join(tmp, n + ".json"))
                    for n in ("src", "ae", "sink"))
    n = exp["total"]
    check_eq("load-sim out", src["out"], n)
    check_eq("account-events in", ae["in"], n)
    check_eq("account-events out (applied)", ae["out"], exp["applied"])
    check_eq("account-events errors (rejected)", ae["errors"],
             exp["rejected"])
    check_eq("account-events dups", ae["dups"], 0)
    for m, who in ((src, "load-sim"), (ae, "account-events"),
                   (snk, "sink")):
        check_eq(who + " drops", m["drops"], 0)
        check_eq(who + " malformed", m["rejected"], 0)
    check_eq("sink in", snk["in"], exp["applied"])
    kind, field = sink
    if kind == "counter":
        check_eq("counter total", counter_of(snk, kind)["total"],
                 exp["applied"])
    else:
        c = counter_of(snk, kind)
        check_eq("%s total" % field, c["total"], exp["applied"])
        want = exp["states"] if field == "state" else exp["applied_types"]
        check_eq("counts per %s" % field, c["values"], want)


def sink_args(sink):
    kind, field = sink
    a = ["--name=acc-" + (field or "events")]
    if field:
        a.append("--field-name=" + field)
    return kind, a


def run_ipc(args, exp, sink, tmp, extra_sink=(), hwm=None):
    kind, sargs = sink_args(sink)
    ep_a, ep_b = "ipc://%s/a" % tmp, "ipc://%s/b" % tmp
    app = lambda n: os.path.join(args.apps, "flow-" + n)
    deadline = time.monotonic() + TIMEOUT_S
    ps = [
        start([app(kind)] + sargs + list(extra_sink) + [
            "--flow.input=" + ep_b, "--flow.eos-exit=1",
            "--flow.metrics-json=%s/sink.json" % tmp]),
        start([app("account-events"), "--flow.input=" + ep_a,
               "--flow.output=" + ep_b, "--flow.eos-exit=1",
               "--flow.metrics-json=%s/ae.json" % tmp],
              stderr=subprocess.DEVNULL),
        start([app("load-sim"), "--count=%d" % exp["total"], "--rate=0",
               "--seed=%d" % SEED, "--accounts=%d" % ACCOUNTS,
               "--illegal-ratio=%g" % ILLEGAL, "--flow.output=" + ep_a,
               "--flow.metrics-json=%s/src.json" % tmp]),
    ]
    h = {} if hwm is None else hwm
    wait_all(ps, deadline, h)
    check_run(tmp, exp, sink)
    return ps


def run_inproc(args, exp, sink, tmp):
    kind, sargs = sink_args(sink)
    deadline = time.monotonic() + TIMEOUT_S
    p = start([os.path.join(args.apps, "flow-host"),
               "load-sim", "--count=%d" % exp["total"], "--rate=0",
               "--seed=%d" % SEED, "--accounts=%d" % ACCOUNTS,
               "--illegal-ratio=%g" % ILLEGAL,
               "--flow.metrics-json=%s/src.json" % tmp, "|",
               "account-events", "--flow.eos-exit=1",
               "--flow.metrics-json=%s/ae.json" % tmp, "|",
               kind] + sargs + [
               "--flow.eos-exit=1", "--flow.metrics-json=%s/sink.json" % tmp],
              stderr=subprocess.DEVNULL)
    hwm = {}
    wait_all([p], deadline, hwm)
    check_run(tmp, exp, sink)
    print("info flow-host VmHWM %d KiB" % hwm.get(p.pid, 0))


def run_bridge(args, tmp):
    """load-sim | bridge | counter over ipc://: the bridge passes every
    event on, once."""
    n = args.count
    ep_a, ep_b = "ipc://%s/a" % tmp, "ipc://%s/b" % tmp
    app = lambda name: os.path.join(args.apps, "flow-" + name)
    ps = [
        start([app("counter"), "--name=bridged", "--flow.input=" + ep_b,
               "--flow.eos-exit=1", "--flow.metrics-json=%s/sink.json" % tmp],
              stdout=subprocess.DEVNULL),
        start([app("bridge"), "--flow.input=" + ep_a, "--flow.output=" + ep_b,
               "--flow.eos-exit=1", "--flow.metrics-json=%s/br.json" % tmp]),
        start([app("load-sim"), "--count=%d" % n, "--rate=0",
               "--flow.output=" + ep_a]),
    ]
    wait_all(ps, time.monotonic() + TIMEOUT_S, {})
    br, snk = (load(os.path.join(tmp, f)) for f in ("br.json", "sink.json"))
    check_eq("bridge in", br["in"], n)
    check_eq("bridge out", br["out"], n)
    check_eq("bridge drops", br["drops"], 0)
    check_eq("counter total", counter_of(snk, "counter")["total"], n)


def counters(args, tmp, eps, slow=()):
    """One counter per input endpoint of eps, each ending at its first end
    of stream (those whose index is in slow sleep 20 us per event); returns
    their processes and metrics paths."""
    ps, paths = [], []
    for k, ep in enumerate(eps):
        path = os.path.join(tmp, "c%d.json" % k)
        delay = ["--delay-us=20"] if k in slow else []
        ps.append(start([os.path.join(args.apps, "flow-counter"),
                         "--name=c%d" % k, "--flow.input=" + ep,
                         "--flow.eos-exit=1", "--flow.metrics-json=" + path]
                        + delay, stdout=subprocess.DEVNULL))
        paths.append(path)
    return ps, paths


def run_scaled(args, tmp):
    """load-sim into two counters on one PUSH output, one of them slow (its
    queue is full when the end of stream goes out, so ZeroMQ's round-robin
    skips it): the end of stream reaches both, and the work is shared
    exactly."""
    n = args.count
    ep = "ipc://%s/a" % tmp
    ps, paths = counters(args, tmp, [ep, ep], slow=(0,))
    ps.append(start([os.path.join(args.apps, "flow-load-sim"),
                     "--count=%d" % n, "--rate=0", "--flow.output=" + ep,
                     "--flow.metrics-json=%s/src.json" % tmp]))
    wait_all(ps, time.monotonic() + TIMEOUT_S, {})
    got = [counter_of(load(p), "counter")["total"] for p in paths]
    print("info shares %r" % got)
    check_eq("both counters' total", sum(got), n)
    check_eq("load-sim drops", load(os.path.join(tmp, "src.json"))["drops"],
             0)


def run_groups(args, tmp):
    """load-sim with --flow.output=A;B: group A's counter and group B's two
    counters each see all n events."""
    n = args.count
    ep_a, ep_b = "ipc://%s/a" % tmp, "ipc://%s/b" % tmp
    ps, paths = counters(args, tmp, [ep_a, ep_b, ep_b])
    ps.append(start([os.path.join(args.apps, "flow-load-sim"),
                     "--count=%d" % n, "--rate=0",
                     "--flow.output=%s;%s" % (ep_a, ep_b),
                     "--flow.metrics-json=%s/src.json" % tmp]))
    wait_all(ps, time.monotonic() + TIMEOUT_S, {})
    got = [counter_of(load(p), "counter")["total"] for p in paths]
    print("info totals %r" % got)
    check_eq("group A's counter", got[0], n)
    check_eq("group B's two counters", got[1] + got[2], n)
    src = load(os.path.join(tmp, "src.json"))
    check_eq("load-sim out", src["out"], n)
    check_eq("load-sim drops", src["drops"], 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["ipc", "inproc", "slow", "bridge",
                                     "scaled", "groups"])
    ap.add_argument("--apps", required=True)
    ap.add_argument("--expect", required=True)
    ap.add_argument("--count", type=int, default=1000000)
    ap.add_argument("--mem-limit-kib", type=int, default=0)
    args = ap.parse_args()

    out = subprocess.run([args.expect, str(args.count), str(SEED),
                          str(ACCOUNTS), str(ILLEGAL)], check=True,
                         capture_output=True, text=True).stdout
    exp = json.loads(out)
    if exp["rejected"] == 0 or len(exp["states"]) < 5:
        fail("the expectation does not exercise rejections and all states")

    sinks = [("field-value-counter", "state"),
             ("field-value-counter", "type"), ("counter", None)]
    with tempfile.TemporaryDirectory(prefix="flow-e2e-") as tmp:
        if args.mode == "bridge":
            print("== ipc: load-sim | bridge | counter")
            run_bridge(args, tmp)
        elif args.mode == "scaled":
            print("== ipc: load-sim into two counters")
            run_scaled(args, tmp)
        elif args.mode == "groups":
            print("== ipc: load-sim into two output groups")
            run_groups(args, tmp)
        elif args.mode == "ipc":
            for s in sinks:
                print("== ipc: load-sim | account-events | %s %s" % s)
                run_ipc(args, exp, s, tmp)
        elif args.mode == "inproc":
            for s in sinks[:2]:
                print("== inproc: load-sim | account-events | %s %s" % s)
                run_inproc(args, exp, s, tmp)
        else:
            print("== slow sink: counter --delay-us=20")
            hwm = {}
            ps = run_ipc(args, exp, ("counter", None), tmp,
                         extra_sink=["--delay-us=20"], hwm=hwm)
            for p in ps:
                kib = hwm.get(p.pid, 0)
                print("info %s VmHWM %d KiB" % (
                    os.path.basename(p.args[0]), kib))
                if kib == 0:
                    fail("no memory sample of %s" % p.args[0])
                if args.mem_limit_kib and kib > args.mem_limit_kib:
                    fail("%s peaked at %d KiB, over %d KiB: events pile up "
                         "instead of slowing the source" % (
                             p.args[0], kib, args.mem_limit_kib))
    print("PASS")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    try:
        main()
    finally:
        kill_all()
