#!/usr/bin/python3
"""The fault battery of docs/guarantees.md: a stream under exactly-once is
broken on purpose (kill -9 of each app, of two at once, of flowd; SIGSTOP
of a processor for longer than its replacement takes to start; a full
disk during checkpoints; scaling up and down) while it runs at least
200,000 events, and its final counts and account states must equal those
of the same seed's run without faults, deployed beside it in the same
flowd.

Run one test: test_faults.py NAME; all: test_faults.py.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time

from flowd_harness import Flowd, flowctl, run, wait_for

N = 200000
RATE = 40000
SOURCE = f"load-sim --count={N} --rate={RATE} --seed=11 --illegal-ratio=0"


def deploy_pair(f, name, props=None):
    """Deploys NAME (the stream the test breaks) and NAME-base (the same
    seed, left alone), each with a lossless tap counting account states."""
    for s in (name, name + "-base"):
        f.create(s, f"{SOURCE} | account-events | counter --name={s}-count")
        f.create(s + "-states", f":{s}.account-events > field-value-counter "
                 f"--field-name=state --name={s}-states")
        f.deploy(s + "-states")
        f.deploy(s, props)
    for s in (name, name + "-base"):
        f.wait_status(s, "deployed", timeout=30)


def states(f, name):
    st, _, body = f.request("GET", f"/metrics/field-value-counters/{name}")
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


def wait_counted(f, name, fraction):
    wait_for(f"{name} at {fraction:.0%}",
             lambda: f.counter(f"{name}-count") >= fraction * N
             or f.counter(f"{name}-live") >= fraction * N, timeout=120,
             interval=0.05)


def checkpoint(f, name):
    return f.get(f"/streams/deployments/{name}").get("checkpoint") or {}


def wait_checkpoint_after(f, name, n, timeout=30):
    """Waits for a checkpoint newer than n to complete; returns its id."""
    return wait_for(f"{name}: a checkpoint after {n}", lambda: (
        (c := checkpoint(f, name).get("last_complete") or 0) > n and c),
        timeout)


def finish_and_compare(f, name, timeout=240):
    """Waits for both streams to have committed all N events, then checks
    that nothing more arrives and that the broken stream's counts and
    account states equal the baseline's."""
    for s in (name, name + "-base"):
        wait_for(f"{s} committed {N}", lambda s=s: f.counter(
            f"{s}-count") >= N and sum(states(f, f"{s}-states").values())
            >= N, timeout=timeout, interval=0.2)
    time.sleep(3)  # three more report periods: nothing counted twice
    base = states(f, f"{name}-base-states")
    got = states(f, f"{name}-states")
    assert f.counter(f"{name}-base-count") == N, f.counter(
        f"{name}-base-count")
    assert f.counter(f"{name}-count") == N, f.counter(f"{name}-count")
    assert sum(base.values()) == N, base
    assert got == base, (got, base)


def kill_during(label, times, seed):
    def test():
        rnd = random.Random(seed)
        with Flowd() as f:
            deploy_pair(f, "fx")
            for k in range(times):
                wait_counted(f, "fx", (k + 1) / (times + 2) *
                             rnd.uniform(0.8, 1.0))
                victim = wait_pid(f, "fx", label)
                os.kill(victim, signal.SIGKILL)
                wait_pid(f, "fx", label, not_pid=victim)
            finish_and_compare(f, "fx")
    return test


def test_kill_two_at_once():
    """account-events and the counter killed in the same instant."""
    with Flowd() as f:
        deploy_pair(f, "fx")
        wait_counted(f, "fx", 0.3)
        a = wait_pid(f, "fx", "account-events")
        c = wait_pid(f, "fx", "counter")
        os.kill(a, signal.SIGKILL)
        os.kill(c, signal.SIGKILL)
        wait_pid(f, "fx", "account-events", not_pid=a)
        finish_and_compare(f, "fx")


def test_kill_flowd():
    """flowd killed mid-run and started again on its data directory: the
    apps go on, and the committed counts continue from the store."""
    with Flowd() as f:
        deploy_pair(f, "fx")
        wait_counted(f, "fx", 0.3)
        f.kill9()
        time.sleep(0.5)
        f.start()
        finish_and_compare(f, "fx")


def test_kill_flowd_and_app():
    """flowd and account-events killed together: the new flowd finds the
    app gone and recovers the region from the last complete checkpoint."""
    with Flowd() as f:
        deploy_pair(f, "fx")
        wait_counted(f, "fx", 0.3)
        a = wait_pid(f, "fx", "account-events")
        f.kill9()
        os.kill(a, signal.SIGKILL)
        f.start()
        finish_and_compare(f, "fx")


def test_sigstop_zombie():
    """account-events stopped with SIGSTOP for longer than its replacement
    takes to start, then resumed: flowd has replaced it, and not one frame
    of the zombie is accepted (counts stay exact)."""
    with Flowd() as f:
        deploy_pair(f, "fx")
        wait_counted(f, "fx", 0.3)
        z = wait_pid(f, "fx", "account-events")
        os.kill(z, signal.SIGSTOP)
        try:
            wait_pid(f, "fx", "account-events", not_pid=z, timeout=30)
            time.sleep(1)
        finally:
            try:
                os.kill(z, signal.SIGCONT)
            except ProcessLookupError:
                pass
        finish_and_compare(f, "fx")


def mount_tmpfs(size):
    mnt = tempfile.mkdtemp(prefix="flowd-full-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}",
                        "tmpfs", mnt], capture_output=True)
    if r.returncode != 0:
        os.rmdir(mnt)
        return None
    return mnt


def test_disk_full_checkpoint():
    """The data directory's disk fills during the run: checkpoints are not
    marked complete, the stream keeps running, status warns; once space is
    back, checkpoints complete again and the counts are exact."""
    mnt = mount_tmpfs("64m")
    assert mnt, "cannot mount a tmpfs for the data directory"
    filler = os.path.join(mnt, "filler")
    try:
        with Flowd(data_dir=os.path.join(mnt, "data")) as f:
            deploy_pair(f, "fx")
            wait_counted(f, "fx", 0.2)
            with open(filler, "wb") as out:
                try:
                    while True:
                        out.write(b"\0" * (1 << 20))
                        out.flush()
                except OSError:
                    pass
            before = checkpoint(f, "fx").get("failed", 0)
            wait_for("a checkpoint failed", lambda: checkpoint(
                f, "fx").get("failed", 0) > before, timeout=30)
            c = checkpoint(f, "fx")
            assert c.get("last_failure"), c
            assert f.status("fx") in ("deployed", "degraded"), f.status("fx")
            os.unlink(filler)
            wait_checkpoint_after(f, "fx", c.get("last_complete") or 0)
            finish_and_compare(f, "fx")
    finally:
        try:
            os.unlink(filler)
        except OSError:
            pass
        subprocess.run(["umount", "-l", mnt])
        os.rmdir(mnt)


def test_scale_up_and_down():
    """account-events scaled to 3 mid-run and back to 1: events are routed
    by account, the key groups' state follows them, nothing is rejected
    that one instance would have accepted, and the counts are exact."""
    with Flowd() as f:
        deploy_pair(f, "fx", {"app.account-events.partition-key": "key"})
        wait_counted(f, "fx", 0.25)
        rc, out, err = flowctl(f, "scale", "fx", "account-events",
                               "3")
        assert rc == 0, (out, err)
        wait_for("three instances", lambda: len([
            i for i in f.instances("fx") if i["label"] == "account-events"
            and i["state"] == "deployed"]) == 3, timeout=60)
        wait_counted(f, "fx", 0.6)
        rc, out, err = flowctl(f, "scale", "fx", "account-events",
                               "1")
        assert rc == 0, (out, err)
        finish_and_compare(f, "fx")


def test_file_output_checked():
    """The committed output itself, not only counts: load-sim |
    account-events | file, account-events and the file sink killed while
    it runs; checker.py (a Jepsen-style checker) reads the committed file
    and finds every event of the source's sequence once, none lost, none
    duplicated, none out of order per account."""
    import checker
    out = tempfile.mkdtemp(prefix="flow-it-faults-out-")
    os.chmod(out, 0o700)
    try:
        with Flowd("--allow-path", out) as f:
            f.create("fo", f"{SOURCE} | account-events | file "
                     f"--directory={out} --name=applied --suffix=ndjson")
            f.deploy("fo")
            f.wait_status("fo", "deployed", timeout=30)
            path = os.path.join(out, "applied.ndjson")

            def lines():
                try:
                    with open(path, "rb") as fh:
                        return fh.read().count(b"\n")
                except FileNotFoundError:
                    return 0
            for k, label in enumerate(("account-events", "file",
                                       "account-events")):
                wait_for(f"{(k + 1) * 20}% committed", lambda k=k: lines()
                         >= (k + 1) * N // 5, timeout=120, interval=0.05)
                victim = wait_pid(f, "fo", label)
                os.kill(victim, signal.SIGKILL)
                wait_pid(f, "fo", label, not_pid=victim)
            wait_for("every event committed", lambda: lines() >= N,
                     timeout=240, interval=0.2)
            time.sleep(3)  # three more checkpoints: nothing comes twice
            expected = checker.loadsim_events(11, 1000, N, 0.0)
            report = checker.check(checker.read_events(path), expected)
            assert report["ok"] and report["out_of_order"] == 0, \
                checker.format_report(report)
            assert report["committed"] == N, report["committed"]
    finally:
        shutil.rmtree(out, ignore_errors=True)


TESTS = {
    "kill_source": kill_during("load-sim", 2, 1),
    "kill_processor": kill_during("account-events", 5, 2),
    "kill_sink": kill_during("counter", 2, 3),
    "kill_two_at_once": test_kill_two_at_once,
    "kill_flowd": test_kill_flowd,
    "kill_flowd_and_app": test_kill_flowd_and_app,
    "sigstop_zombie": test_sigstop_zombie,
    "disk_full_checkpoint": test_disk_full_checkpoint,
    "scale_up_and_down": test_scale_up_and_down,
    "file_output_checked": test_file_output_checked,
}

if __name__ == "__main__":
    run(TESTS)
