#!/usr/bin/python3
"""Cycles of named destinations in a guaranteed region (docs/guarantees.md,
"Cycles"): load-sim's events enter :loop, a transform counts their hops
down into :hop, and a router sends those with hops left back into :loop
and the rest to :done, counted. Many hops at a low rate keep a few
events going round at every moment, so that the cut of a checkpoint
finds some on the back edge. flowd finds the back edge (router ->
transform), the transform records its channel state, checkpoints
complete, and after kill -9 of an app on the cycle every event reaches
:done exactly once, having gone round exactly HOPS times.

Run one test: test_cycles.py NAME; all: test_cycles.py.
"""

import glob
import json
import os
import signal
import tempfile
import time

import msgpack

from flowd_harness import Flowd, flowctl, run, wait_for

N = 10000
RATE = 2000
HOPS = 50


# The cycle's streams, consumers first.
CYCLE = {
    "cy-done": ":done > counter --name=cy-done",
    "cy-visits": ":done > field-value-counter --field-name=visits "
                 "--name=cy-visits",
    "cy-route": ":hop > router "
                "--expression=\"payload.hops > 0 ? 'loop' : 'done'\" "
                "--destination-mappings=loop:loop,done:done",
    "cy-hop": f":loop > transform "
              f"--set.hops=\"(payload.hops ?: {HOPS}) - 1\" "
              f"--set.visits=\"(payload.visits ?: 0) + 1\" > :hop",
    "cy-src": f"load-sim --count={N} --rate={RATE} --seed=5 "
              f"--illegal-ratio=0 > :loop",
}


def deploy_cycle(f):
    """The cycle, deployed consumers first, then its source."""
    for name, definition in CYCLE.items():
        f.create(name, definition)
    for s in ("cy-done", "cy-visits", "cy-route", "cy-hop"):
        f.deploy(s)
    for s in ("cy-done", "cy-visits", "cy-route", "cy-hop"):
        f.wait_status(s, "deployed", timeout=30)
    f.deploy("cy-src")


def checkpoint(f, name):
    return f.get(f"/streams/deployments/{name}").get("checkpoint") or {}


def visits(f):
    st, _, body = f.request("GET", "/metrics/field-value-counters/cy-visits")
    return json.loads(body)["values"] if st == 200 else {}


def pid_of(f, stream, label):
    for i in f.instances(stream):
        if i["label"] == label and i.get("pid") and \
                i["state"] in ("deployed", "deploying"):
            return i["pid"]
    return None


def wait_pid(f, stream, label, not_pid=None, timeout=30):
    return wait_for(f"{stream}.{label} running", lambda: (
        (p := pid_of(f, stream, label)) and p != not_pid and p), timeout)


def cmdline(f, stream, label):
    pid = pid_of(f, stream, label)
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().decode().split("\0")
    except (OSError, TypeError):
        return []


def args_of(f, stream, label):
    """The command line of the app's instance once it runs under the
    region's guarantee (before the source came, the cycle had none)."""
    return wait_for(f"{stream}.{label} guaranteed", lambda: (
        (a := cmdline(f, stream, label)) and
        "--flow.guarantee=exactly-once" in a and a), timeout=30)


def finish(f):
    """Every event at :done once, each after HOPS trips round, and no
    checkpoint timed out."""
    wait_for(f"cy-done committed {N}", lambda: f.counter("cy-done") >= N
             and sum(visits(f).values()) >= N, timeout=90, interval=0.2)
    time.sleep(3)  # three more checkpoints: nothing arrives twice
    assert f.counter("cy-done") == N, f.counter("cy-done")
    assert visits(f) == {str(HOPS): N}, visits(f)
    c = checkpoint(f, "cy-src")
    assert (c.get("last_complete") or 0) > 0, c
    assert "timed out" not in json.dumps(c), c


def test_back_edge_wiring():
    """flowd gives the transform the router's channel as feedback and
    aligns it on load-sim's alone; the region is exactly-once and its
    checkpoints complete while the events go round."""
    with Flowd() as f:
        deploy_cycle(f)
        a = args_of(f, "cy-hop", "transform")
        assert "--flow.feedback=cy-route.router" in a, a
        assert "--flow.feedback-channels=1" in a, a
        assert "--flow.upstreams=1" in a, a
        r = args_of(f, "cy-route", "router")
        assert not any(x.startswith("--flow.feedback") for x in r), r
        for s in ("cy-src", "cy-hop", "cy-route", "cy-done"):
            g = f.get(f"/streams/deployments/{s}")
            assert g.get("guarantee") == "exactly-once", (s, g)
        first = wait_for("a checkpoint complete", lambda: (
            checkpoint(f, "cy-src").get("last_complete") or 0), timeout=30)
        wait_for("three more", lambda: (
            checkpoint(f, "cy-src").get("last_complete") or 0) >= first + 3,
            timeout=30)
        finish(f)


def channel_state(f, n):
    """How many frames the transform recorded in checkpoint n (its
    snapshot's seventh part), or None without the file."""
    region = checkpoint(f, "cy-src").get("region")
    p = glob.glob(f"{f.data_dir}/checkpoints/{region}/{n}/"
                  f"cy-hop.transform.0.snap")
    try:
        with open(p[0], "rb") as fh:
            snap = msgpack.unpackb(fh.read()[16:], raw=True)
    except (IndexError, OSError, ValueError):
        return None
    assert len(snap) == 7, snap
    return len(snap[6])


def restored_from(f):
    """The checkpoint the transform's running instance restored."""
    for a in cmdline(f, "cy-hop", "transform"):
        if a.startswith("--flow.restore="):
            return int(a.split("/")[-2])
    return 0


def kill_on_cycle(label, stream):
    """kill -9 of an app on the cycle just after a checkpoint completed
    whose channel state holds frames (events in flight on the back edge
    at the cut, which no source replays): again, up to 5 times, until the
    region was restored from such a checkpoint. Then every event reaches
    :done exactly once."""
    def test():
        with Flowd() as f:
            deploy_cycle(f)
            hit = False
            for _ in range(5):
                n = wait_for("a checkpoint with channel state", lambda: (
                    (c := checkpoint(f, "cy-src").get("last_complete"))
                    and (channel_state(f, c) or 0) > 0 and c), timeout=30,
                    interval=0.02)
                victim = wait_pid(f, stream, label)
                os.kill(victim, signal.SIGKILL)
                wait_pid(f, stream, label, not_pid=victim)
                wait_pid(f, "cy-hop", "transform")
                r = wait_for("the region restored", lambda: restored_from(f),
                             timeout=30)
                if r >= n and channel_state(f, r):
                    hit = True
                    break
            assert hit, "never restored from a checkpoint with channel state"
            finish(f)
    return test


def test_kill_after_source_ended():
    """The source completed while events still go round: the cycle's
    checkpoints go on without it (every instance hears ckpt, and the
    transform, whose only other channel ended, starts them), and kill -9
    of the transform then restores from one of those."""
    with Flowd() as f:
        deploy_cycle(f)
        wait_for("load-sim completed", lambda: not pid_of(
            f, "cy-src", "load-sim") and f.counter("cy-done") > 0,
            timeout=60)
        last = checkpoint(f, "cy-src").get("last_complete") or 0
        wait_for("a checkpoint after the source", lambda: (
            checkpoint(f, "cy-src").get("last_complete") or 0) > last,
            timeout=40)
        victim = wait_pid(f, "cy-hop", "transform")
        os.kill(victim, signal.SIGKILL)
        wait_pid(f, "cy-hop", "transform", not_pid=victim)
        a = wait_for("the transform restored", lambda: (
            (a := cmdline(f, "cy-hop", "transform")) and
            any(x.startswith("--flow.restore=") for x in a) and a),
            timeout=30)
        assert not any(x.startswith("--flow.upstreams") for x in a), a
        finish(f)


def test_kill_flowd():
    """flowd killed mid-run and started again on its data directory: the
    cycle's apps go on, the new flowd takes up their checkpoints, and the
    counts are exact."""
    with Flowd() as f:
        deploy_cycle(f)
        first = wait_for("a checkpoint complete", lambda: (
            checkpoint(f, "cy-src").get("last_complete") or 0) >= 2,
            timeout=30)
        f.kill9()
        time.sleep(0.5)
        f.start()
        wait_for("checkpoints again", lambda: (
            checkpoint(f, "cy-src").get("last_complete") or 0) > first + 1,
            timeout=30)
        finish(f)


def test_no_source_cycle():
    """A cycle of destinations with no source app takes no checkpoint
    and says why; it keeps its guarantee for when a source joins."""
    with Flowd() as f:
        f.create("ns-a", ":na > transform > :nb")
        f.create("ns-b", ":nb > transform > :na")
        f.deploy("ns-a")
        f.deploy("ns-b")
        f.wait_status("ns-b", "deployed", timeout=30)
        g = f.get("/streams/deployments/ns-b")
        assert g.get("guarantee") == "exactly-once", g
        assert "no stream of the region starts with a source" in \
            g.get("guarantee_note", ""), g
        time.sleep(2)
        c = checkpoint(f, "ns-a")
        assert not c.get("last_complete") and not c.get("in_flight"), c


def epochs(f):
    """The --flow.epoch of every running instance of the cycle's streams,
    by stream.label.instance."""
    out = {}
    for s in CYCLE:
        for i in f.instances(s):
            try:
                with open(f"/proc/{i.get('pid')}/cmdline", "rb") as fh:
                    a = fh.read().decode().split("\0")
            except (OSError, TypeError):
                continue
            e = [x for x in a if x.startswith("--flow.epoch=")]
            out[f"{s}.{i['label']}.{i.get('index', 0)}"] = \
                e[0].split("=", 1)[1] if e else None
    return out


def one_epoch(f):
    """The instances that run (the source may have completed) run in one
    epoch of the region."""
    def same():
        e = epochs(f)
        return len(e) >= 4 and len(set(e.values())) == 1 and e
    return wait_for("every instance in the region's epoch", same, timeout=30)


def checkpoints_go_on(f, more=3):
    first = wait_for("a checkpoint complete", lambda: (
        checkpoint(f, "cy-src").get("last_complete") or 0), timeout=30)
    wait_for(f"{more} more", lambda: (
        checkpoint(f, "cy-src").get("last_complete") or 0) >= first + more,
        timeout=30)


def test_deploy_producers_first():
    """The cycle's streams deployed producers first, all at once as
    `flowd --deploy` does: the router closes the cycle and the region
    restarts (the transform gets its feedback channel), and the counters
    come while it still stops its instances. They start again with the
    region, in its epoch, so that checkpoints complete and every event
    reaches :done exactly once."""
    order = ["cy-src", "cy-hop", "cy-route", "cy-done", "cy-visits"]
    fd, path = tempfile.mkstemp(prefix="cycle-", suffix=".flow")
    try:
        with os.fdopen(fd, "w") as fh:
            for name in order:
                fh.write(f"{name} = {CYCLE[name]}\n")
        args = ["--load", path]
        for name in order:
            args += ["--deploy", name]
        with Flowd(*args) as f:
            for s in order:
                f.wait_status(s, "deployed", timeout=30)
            one_epoch(f)
            a = args_of(f, "cy-hop", "transform")
            assert "--flow.feedback=cy-route.router" in a, a
            checkpoints_go_on(f)
            finish(f)
    finally:
        os.unlink(path)


def test_deploy_one_by_one():
    """The cycle's streams deployed one at a time with flowctl in another
    order (the cycle closes between its two readers of :done, before its
    source: a reader deployed after the source would miss what went by
    before it came): checkpoints complete, the counts are exact, and they
    stay so after flowd stops and starts again on its data directory,
    restoring the region."""
    order = ["cy-hop", "cy-done", "cy-route", "cy-visits", "cy-src"]
    with Flowd() as f:
        for name in order:
            rc, out, err = flowctl(f, "stream", "create", name, CYCLE[name])
            assert rc == 0, (name, out, err)
        for name in order:
            rc, out, err = flowctl(f, "deploy", name)
            assert rc == 0, (name, out, err)
            f.wait_status(name, "deployed", timeout=30)
        one_epoch(f)
        checkpoints_go_on(f)
        finish(f)
        last = checkpoint(f, "cy-src").get("last_complete") or 0
        assert f.terminate() == 0, f.read_log()
        f.start()
        wait_for("checkpoints after the restart", lambda: (
            checkpoint(f, "cy-src").get("last_complete") or 0) > last + 2,
            timeout=30)
        assert f.counter("cy-done") == N, f.counter("cy-done")
        assert visits(f) == {str(HOPS): N}, visits(f)
        assert "timed out" not in json.dumps(checkpoint(f, "cy-src"))


TESTS = {
    "back_edge_wiring": test_back_edge_wiring,
    "kill_transform": kill_on_cycle("transform", "cy-hop"),
    "kill_router": kill_on_cycle("router", "cy-route"),
    "kill_after_source_ended": test_kill_after_source_ended,
    "kill_flowd": test_kill_flowd,
    "no_source_cycle": test_no_source_cycle,
    "deploy_producers_first": test_deploy_producers_first,
    "deploy_one_by_one": test_deploy_one_by_one,
}

if __name__ == "__main__":
    run(TESTS)
