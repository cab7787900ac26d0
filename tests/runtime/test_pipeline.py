#!/usr/bin/python3
"""test-gen | test-pass | test-sink as real processes, and in one process.

Usage: test_pipeline.py SCENARIO GEN PASS SINK HOST rss|no-rss

SCENARIO is one of the names below (tests/runtime/meson.build registers
each as its own test). Exit status 0 is a pass, 77 a skip (meson's SKIP:
the machine cannot show what the scenario checks), anything else a
failure.

exact         over ipc://, N events from the source reach the sink, none
              lost, none twice, sequence numbers without gaps; every app
              exits 0 by end of stream.
backpressure  a slow processor makes the source wait; counts are still
              exact and the source's memory stays bounded.
stop          SIGTERM to a running flat-out pipeline ends every app with
              status 0 within a bounded time, and nothing arrives that
              was not sent.
host          one process over inproc:// (flow_host): the same exact
              counts.
metrics_fifo  --flow.metrics-json naming a FIFO writes into the FIFO and
              leaves it a FIFO (a path that is not a regular file is never
              renamed over).
source_waits_for_consumer
              a paced source makes no event before its first consumer
              connects.
placement     with --flow.cpus=auto (the default) a light app runs, every
              thread of it, on the first CPU it may use; a flat-out
              pipeline spreads over all of them; a spread app that goes
              quiet packs again; with --flow.cpus=any nothing is pinned.
              Skipped where this process may use one CPU only: there is
              nothing to place."""
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import msgpack
import zmq

SCENARIO = sys.argv[1]
GEN, PASS, SINK, HOST = sys.argv[2:6]
CHECK_RSS = len(sys.argv) < 7 or sys.argv[6] == "rss"
SKIP = 77
procs = []


def start(args):
    p = subprocess.Popen(args)
    procs.append(p)
    return p


def wait_all(ps, timeout):
    deadline = time.time() + timeout
    codes = []
    for p in ps:
        codes.append(p.wait(timeout=max(0.1, deadline - time.time())))
    return codes


def rss_anon_kib(pid):
    """Private resident memory (shared libraries excluded)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def load(path):
    with open(path) as f:
        return json.load(f)


def counter(m, name):
    for c in m["counters"]:
        if c["name"] == name:
            return c["total"]
    raise AssertionError("no counter %s in %s" % (name, m))


def pipeline(work, tag, gen_args, pass_args=(), sink_args=()):
    a, b = "ipc://%s/%s-a" % (work, tag), "ipc://%s/%s-b" % (work, tag)
    mj = {k: os.path.join(work, "%s-%s.json" % (tag, k))
          for k in ("gen", "pass", "sink")}
    sink = start([SINK, "--flow.input=" + b, "--flow.eos-exit=1",
                  "--flow.metrics-json=" + mj["sink"]] + list(sink_args))
    proc = start([PASS, "--flow.input=" + a, "--flow.output=" + b,
                  "--flow.eos-exit=1", "--flow.metrics-json=" + mj["pass"]]
                 + list(pass_args))
    gen = start([GEN, "--flow.output=" + a,
                 "--flow.metrics-json=" + mj["gen"]] + list(gen_args))
    return gen, proc, sink, mj


def allowed_cpus(pid):
    """The CPU list of every thread of pid (a set of strings), or None
    while ZeroMQ's threads are not there yet: until then the process may
    still carry the list it was started with."""
    lists = set()
    tasks = os.listdir("/proc/%d/task" % pid)
    if len(tasks) < 3:
        return None
    for t in tasks:
        try:
            with open("/proc/%d/task/%s/status" % (pid, t)) as f:
                for line in f:
                    if line.startswith("Cpus_allowed_list:"):
                        lists.add(line.split()[1])
        except OSError:
            pass  # the thread ended
    return lists


def eventually(what, fn, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if fn():
            return
        time.sleep(0.05)
    raise AssertionError("not within %ds: %s" % (timeout, what))


def cpu_list(cpus):
    """The kernel's spelling of a set of CPUs: 0-1,3."""
    out, run = [], []
    for c in sorted(cpus):
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            out.append(run)
        run = [c]
    out.append(run)
    return ",".join(str(r[0]) if len(r) == 1 else "%d-%d" % (r[0], r[-1])
                    for r in out)


def test_placement(work):
    mine = os.sched_getaffinity(0)
    if len(mine) < 2:
        print("placement: one CPU (%s), nothing to place: skipped"
              % cpu_list(mine))
        return SKIP
    home, every = str(min(mine)), cpu_list(mine)
    # A light app: all its threads (loop, ZeroMQ I/O, reaper) at home.
    idle = start([SINK, "--flow.input=ipc://%s/place-idle" % work])
    eventually("idle sink packed", lambda: allowed_cpus(idle.pid) == {home})
    free = start([SINK, "--flow.input=ipc://%s/place-free" % work,
                  "--flow.cpus=any"])
    eventually("--flow.cpus=any left alone",
               lambda: allowed_cpus(free.pid) == {every}, 10)
    # Flat out: each app spreads once it moves more than one core carries.
    gen, proc, sink, _ = pipeline(work, "place", ["--count=100000000"])
    for p in (gen, proc, sink):
        eventually("flat-out app %d spread" % p.pid,
                   lambda p=p: allowed_cpus(p.pid) == {every})
    for p in (gen, proc, sink):
        p.terminate()
    codes = wait_all([gen, proc, sink], 60)
    assert codes == [0, 0, 0], codes
    # A spread app that goes quiet comes home (after its back-off).
    busy = start([SINK, "--flow.input=ipc://%s/place-busy" % work])
    feed = start([GEN, "--flow.output=ipc://%s/place-busy" % work,
                  "--count=3000000"])
    eventually("busy sink spread", lambda: allowed_cpus(busy.pid) == {every})
    assert wait_all([feed], 120) == [0]
    eventually("quiet sink packed again",
               lambda: allowed_cpus(busy.pid) == {home}, 60)
    for p in (idle, free, busy):
        p.terminate()
    assert wait_all([idle, free, busy], 30) == [0, 0, 0]
    print("placement: home CPU %s, spread over %s" % (home, every))


def test_exact(work):
    n = 300000
    gen, proc, sink, mj = pipeline(work, "exact", ["--count=%d" % n])
    assert wait_all([gen, proc, sink], 300) == [0, 0, 0]
    g, p, s = load(mj["gen"]), load(mj["pass"]), load(mj["sink"])
    assert g["out"] == n and g["drops"] == 0, g
    assert p["in"] == n and p["out"] == n, p
    assert s["in"] == n and s["rejected"] == 0, s
    assert counter(s, "received") == n
    assert counter(s, "seq-gaps") == 0
    print("exact: %d events, e2e p50 %.0f us p99 %.0f us"
          % (n, s["e2e_us"]["p50"], s["e2e_us"]["p99"]))


def test_backpressure(work):
    n = 20000
    gen, proc, sink, mj = pipeline(work, "slow", ["--count=%d" % n, "--pad=400"],
                                   pass_args=["--sleep-us=50",
                                              "--flow.hwm-events=1024"])
    peak = 0
    while gen.poll() is None or proc.poll() is None:
        peak = max(peak, rss_anon_kib(gen.pid))
        time.sleep(0.05)
    assert wait_all([gen, proc, sink], 120) == [0, 0, 0]
    s = load(mj["sink"])
    assert s["in"] == n and counter(s, "seq-gaps") == 0, s
    g = load(mj["gen"])
    assert g["out"] == n and g["drops"] == 0, g
    # The source must have waited for the slow processor instead of
    # queueing everything: 20000 events of 400 bytes are 8 MB.
    if CHECK_RSS:
        assert peak < 6 * 1024, "source private RSS %d KiB" % peak
    print("backpressure: exact, source peak private RSS %d KiB" % peak)


def wait_for_traffic(router, timeout):
    """Waits for a metrics message (playing flowd) that shows input."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if router.poll(1000):
            _, body = router.recv_multipart()
            m = msgpack.unpackb(body, raw=False)
            if m.get("t") == "metrics" and m.get("in", 0) > 0:
                return
    raise AssertionError("no events reached the sink")


def test_stop(work):
    zctx = zmq.Context()
    router = zctx.socket(zmq.ROUTER)
    router.bind("ipc://%s/ctl" % work)
    try:
        gen, proc, sink, mj = pipeline(
            work, "stop", ["--count=0"],
            sink_args=["--flow.control=ipc://%s/ctl" % work])
        wait_for_traffic(router, 120)
    finally:
        zctx.destroy(linger=0)
    for p in (gen, proc, sink):
        assert p.poll() is None, "an app ended early"
    t0 = time.time()
    for p in (gen, proc, sink):
        p.send_signal(signal.SIGTERM)
    assert wait_all([gen, proc, sink], 30) == [0, 0, 0]
    took = time.time() - t0
    g, p, s = load(mj["gen"]), load(mj["pass"]), load(mj["sink"])
    assert g["out"] > 0 and s["in"] > 0, (g, s)
    assert p["in"] <= g["out"] and s["in"] <= p["out"], (g, p, s)
    assert counter(s, "seq-gaps") == 0
    print("stop: %d sent, %d received, all exited 0 in %.2f s"
          % (g["out"], s["in"], took))


def test_host(work):
    n = 300000
    p = start([HOST, str(n), work])
    assert wait_all([p], 300) == [0]
    s = load(os.path.join(work, "sink.json"))
    assert s["in"] == n and counter(s, "received") == n, s
    assert counter(s, "seq-gaps") == 0
    print("host: %d events over inproc://" % n)


def test_metrics_fifo(work):
    fifo = os.path.join(work, "metrics.fifo")
    os.mkfifo(fifo)
    n = 100
    sink = start([SINK, "--flow.input=ipc://%s/fifo-a" % work,
                  "--flow.eos-exit=1", "--flow.metrics-json=" + fifo])
    gen = start([GEN, "--flow.output=ipc://%s/fifo-a" % work,
                 "--count=%d" % n])
    # Opening for reading blocks until the sink opens it to write; a
    # sink that wrote elsewhere would never open it, so bound the wait.
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    data = b""
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                chunk = None
            if chunk:
                data += chunk
            elif chunk == b"" and data and sink.poll() is not None:
                break
            else:
                time.sleep(0.02)
    finally:
        os.close(fd)
    assert wait_all([gen, sink], 60) == [0, 0]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode), "the FIFO was replaced"
    assert not os.path.exists(fifo + ".tmp")
    m = json.loads(data.decode())
    assert m["in"] == n, m
    print("metrics-json into a FIFO: %d bytes, still a FIFO" % len(data))


def test_source_waits_for_consumer(work):
    """A paced source makes no event before its first consumer connects:
    before, the first events waited in the batch (and a paced source then
    caught up in one burst), and the stream counted that wait as latency."""
    out = "ipc://%s/wait-a" % work
    gen = start([GEN, "--flow.output=" + out, "--rate=1000", "--count=50"])
    time.sleep(0.5)  # the source runs with nothing connected
    ctx = zmq.Context()
    try:
        pull = ctx.socket(zmq.PULL)
        pull.setsockopt(zmq.LINGER, 0)
        t_connect_us = time.time_ns() // 1000
        pull.connect(out)
        got, ended = [], False
        deadline = time.time() + 30
        while not ended and time.time() < deadline:
            if not pull.poll(1000):
                continue
            f = msgpack.unpackb(pull.recv(), raw=False)
            ended = len(f[4]) == 0
            got.extend(f[4])
        assert ended and len(got) == 50, (ended, len(got))
        first_ts = min(e[2] for e in got)
        # Both are the wall clock of this machine; 2 ms of slack for the
        # clocks' granularity, far below the half second waited.
        assert first_ts >= t_connect_us - 2000, (
            "the first event was made %d us before a consumer connected"
            % (t_connect_us - first_ts))
    finally:
        ctx.destroy(linger=0)
    assert wait_all([gen], 30) == [0]
    print("source waits for its consumer: first event %d us after the "
          "connect" % (first_ts - t_connect_us))


SCENARIOS = {
    "metrics_fifo": test_metrics_fifo,
    "source_waits_for_consumer": test_source_waits_for_consumer,
    "exact": test_exact,
    "backpressure": test_backpressure,
    "stop": test_stop,
    "host": test_host,
    "placement": test_placement,
}


def main():
    if SCENARIO not in SCENARIOS:
        sys.exit("test_pipeline.py: no scenario '%s' (one of: %s)"
                 % (SCENARIO, ", ".join(SCENARIOS)))
    work = tempfile.mkdtemp(prefix="flow-pipe-")
    try:
        rc = SCENARIOS[SCENARIO](work)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(rc or 0)


if __name__ == "__main__":
    main()
