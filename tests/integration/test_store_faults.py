#!/usr/bin/python3
"""Integration tests of flowd's hold on its data directory, its store and
its processes: one flowd per data directory, adopted apps' real exits, and
a store whose writes fail (a full disk).

Run one test: test_store_faults.py NAME; all: test_store_faults.py.
"""

import errno
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

from flowd_harness import FLOWD, Flowd, run, wait_for

DEMO = "load-sim --rate=2000 | account-events | counter --name=sf-load"


def flowd_env():
    env = dict(os.environ)
    env.pop("FLOW_TOKEN", None)
    env.pop("FLOW_DATA_DIR", None)
    return env


def holds_file(pid, path):
    """Does process pid hold a descriptor on path?"""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == path:
                return True
        except OSError:
            pass
    return False


def test_one_flowd_per_data_dir():
    """A second flowd on a data directory in use exits at once naming the
    first's pid and leaves its apps alone; once the first is killed, the
    lock is gone with it (no app inherited it) and a new flowd adopts."""
    with Flowd() as f:
        f.create("one", DEMO, deploy=True)
        f.wait_status("one", "deployed")
        before = sorted(i["pid"] for i in f.instances("one"))
        wait_for("counting", lambda: f.counter("sf-load"))
        lock = os.path.join(f.data_dir, "flowd.lock")
        for p in before:
            assert not holds_file(p, lock), f"app {p} holds {lock}"

        second = subprocess.Popen(
            [FLOWD, "--port", "0", "--data-dir", f.data_dir],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, env=flowd_env())
        try:
            out, err = second.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(second.pid, signal.SIGKILL)
            second.communicate()
            raise AssertionError("a second flowd ran on the same data "
                                 "directory")
        finally:
            try:
                os.killpg(second.pid, signal.SIGKILL)
            except OSError:
                pass
        want = (f"flowd: data directory {f.data_dir} is in use by flowd "
                f"pid {f.proc.pid}\n")
        assert second.returncode == 1, (second.returncode, out, err)
        assert err.decode() == want, (err, want)
        assert out == b"", out

        # The first flowd and its apps go on as before.
        assert f.proc.poll() is None
        assert f.status("one") == "deployed"
        assert sorted(f.app_pids()) == before, (f.app_pids(), before)
        assert sorted(i["pid"] for i in f.instances("one")) == before
        c = f.counter("sf-load")
        wait_for("still counting", lambda: f.counter("sf-load") > c)

        # Killed, the first flowd's lock goes with it: a new flowd on the
        # directory starts and adopts the apps, which survived.
        f.kill9()
        assert sorted(f.app_pids()) == before, (f.app_pids(), before)
        f.start()
        f.wait_status("one", "deployed")
        assert sorted(i["pid"] for i in f.instances("one")) == before
        with open(lock) as fh:
            assert fh.read() == f"{f.proc.pid}\n"
        c = f.counter("sf-load")
        wait_for("counting after adoption", lambda: f.counter("sf-load") > c)


def stored_total(f, name):
    """The total the store holds for counter name (read-only)."""
    db = sqlite3.connect(f"file:{f.data_dir}/flow.db?mode=ro", uri=True)
    try:
        row = db.execute("SELECT total FROM counters WHERE kind='counter' "
                         "AND name=?", (name,)).fetchone()
        return row[0] if row else 0
    finally:
        db.close()


def test_adopted_source_ends_once():
    """A source adopted after a flowd restart that then reaches --count is
    completed, not "killed by signal 9" and started again: the counter
    ends at exactly --count. The stream keeps exactly-once (the default),
    under which the counter, after the end of its input, waits for the
    last checkpoint to complete and exits 0 too: it is completed, and
    neither app is started again by the next flowd."""
    n = 9000
    with Flowd() as f:
        f.create("once", f"load-sim --count={n} --rate=300 --seed=3 | "
                 "counter --name=sf-once", deploy=True)
        f.wait_status("once", "deployed")
        wait_for("counting", lambda: f.counter("sf-once") > 0)
        before = {i["label"]: i["pid"] for i in f.instances("once")}
        # Counter increments that reach a flowd killed before it stores
        # them are lost with it, which is not what this test is about:
        # the counter is paused until flowd has stored all it reported.
        os.kill(before["counter"], signal.SIGSTOP)
        try:
            wait_for("increments stored", lambda: f.counter("sf-once") ==
                     stored_total(f, "sf-once") and time.sleep(1.5) is None
                     and f.counter("sf-once") == stored_total(f, "sf-once"))
            f.kill9()
        finally:
            os.kill(before["counter"], signal.SIGCONT)
        f.start()
        f.wait_status("once", "deployed")
        adopted = {i["label"]: i["pid"] for i in f.instances("once")}
        assert adopted == before, (before, adopted)
        assert f.counter("sf-once") < n, "the source ended before the restart"

        def source():
            return [i for i in f.instances("once")
                    if i["label"] == "load-sim"][0]
        wait_for("source ended",
                 lambda: source()["state"] not in ("deploying", "deployed"),
                 timeout=120, interval=0.2)
        src = source()
        assert src["state"] == "completed", src
        assert src["lastExit"] == "exit status 0", src
        assert src["restarts"] == 0, src
        assert src["pid"] is None, src
        wait_for("all counted", lambda: f.counter("sf-once") >= n,
                 timeout=60, interval=0.2)
        # Two more report periods: nothing is counted twice.
        time.sleep(2.5)
        assert f.counter("sf-once") == n, f.counter("sf-once")
        src = source()
        assert src["state"] == "completed" and src["restarts"] == 0, src
        assert before["load-sim"] not in f.app_pids()

        def sink():
            return [i for i in f.instances("once")
                    if i["label"] == "counter"][0]
        wait_for("counter ended", lambda: sink()["state"] == "completed",
                 timeout=60, interval=0.2)
        snk = sink()
        assert snk["lastExit"] == "exit status 0", snk
        assert snk["restarts"] == 0 and snk["pid"] is None, snk
        assert not f.app_pids(), f.app_pids()
        assert f.counter("sf-once") == n, f.counter("sf-once")

        # The end is the end for the next flowd too: neither app that
        # completed is started again.
        f.kill9()
        f.start()
        wait_for("ready", lambda: f.request("GET", "/ready")[0] == 200,
                 timeout=60)
        time.sleep(2.5)
        src = source()
        assert src["state"] == "completed" and src["pid"] is None, src
        assert src["restarts"] == 0 and src["lastExit"] == "exit status 0"
        snk = sink()
        assert snk["state"] == "completed" and snk["pid"] is None, snk
        assert snk["restarts"] == 0 and snk["lastExit"] == "exit status 0"
        assert not f.app_pids(), f.app_pids()
        assert f.status("once") == "deployed"
        assert f.counter("sf-once") == n, f.counter("sf-once")


def instance_procs(data_dir):
    """Live processes started for an instance of data_dir: pid -> id, from
    FLOW_INSTANCE_DIR=DATA/run/ID in their environment."""
    want = f"FLOW_INSTANCE_DIR={data_dir}/run/".encode()
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
            with open(f"/proc/{d}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
        except OSError:
            continue
        if state in ("Z", "X"):
            continue
        for e in env:
            if e.startswith(want):
                out[int(d)] = e[len(want):].decode()
    return out


def fill(path):
    """Fills the file system of path up to the last byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 4096, 512, 1):
            chunk = b"\0" * size
            try:
                while True:
                    os.write(fd, chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)


def ready_status(f):
    return f.request("GET", "/ready")[0]


def test_store_full():
    """With the disk of the data directory full, every change answers 507
    with SQLite's message and changes nothing, /ready and /about say the
    store fails, an app restarted meanwhile is not lost track of, and
    everything recovers once there is space again."""
    mnt = tempfile.mkdtemp(prefix="flowd-full-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700",
                        "tmpfs", mnt], capture_output=True, text=True)
    if r.returncode:
        os.rmdir(mnt)
        print(f"SKIP store_full: cannot mount a small tmpfs for the data "
              f"directory: {r.stderr.strip()}", flush=True)
        sys.exit(77)
    filler = os.path.join(mnt, "filler")
    try:
        with Flowd(data_dir=os.path.join(mnt, "data")) as f:
            full_outage(f, filler)
    finally:
        for _ in range(50):
            if subprocess.run(["umount", mnt]).returncode == 0:
                break
            time.sleep(0.2)
        else:
            subprocess.run(["umount", "-l", mnt])
        os.rmdir(mnt)


def full_outage(f, filler):
    # This is about the store's own writes on a full disk: the counters'
    # increments, stored every second without a guarantee, are what finds
    # the disk full, and a killed app restarts alone. Under exactly-once
    # (the default) counters are written only when a checkpoint completes,
    # and a full disk declines every checkpoint's snapshots first, so the
    # store would not be written at all: that case is test_faults'
    # disk_full_checkpoint. Hence flow.guarantee=none.
    f.create("keep", "load-sim --rate=200 | counter --name=sf-full")
    f.deploy("keep", {"flow.guarantee": "none"})
    f.create("gone-dep", "load-sim --rate=50 | counter --name=sf-dep")
    f.deploy("gone-dep", {"flow.guarantee": "none"})
    f.create("gone-def", "time | log")
    f.wait_status("keep", "deployed")
    f.wait_status("gone-dep", "deployed")
    # The counter is in the store, so that deleting it has to write.
    wait_for("counter stored", lambda: stored_total(f, "sf-full") > 0)
    assert ready_status(f) == 200
    assert f.get("/about")["store"]["status"] == "ok"

    fill(filler)
    # The counters' writes fail within a second or two.
    wait_for("/ready 503", lambda: ready_status(f) == 503)
    st, _, body = f.request("GET", "/ready")
    assert b"cannot be written" in body, body
    store = f.get("/about")["store"]
    assert store["status"] == "failing", store
    assert "database or disk is full" in store["lastError"], store
    assert store["failedWrites"] >= 1, store

    # Each change is refused with SQLite's message, and nothing changes.
    for method, path in (("DELETE", "/streams/definitions/gone-def"),
                         ("DELETE", "/streams/deployments/gone-dep"),
                         ("DELETE", "/metrics/counters/sf-full"),
                         ("POST", "/streams/deployments/gone-def"),
                         ("POST", "/streams/deployments/scale/gone-dep/"
                                  "counter/instances/2")):
        st, _, body = f.request(method, path,
                                {} if method == "POST" else None)
        assert st == 507, (path, st, body)
        msg = json.loads(body)["message"]
        assert "database or disk is full" in msg, (path, msg)
        assert "nothing was changed; free space" in msg, (path, msg)
    st, _, body = f.request("POST", "/streams/definitions",
                            {"name": "new", "definition": "time | log"})
    assert st == 507, (st, body)
    assert f.status("gone-def") == "undeployed"
    assert f.status("gone-dep") == "deployed"
    assert [i["index"] for i in f.instances("gone-dep")
            if i["label"] == "counter"] == [0]
    assert f.counter("sf-full") > 0
    assert f.request("GET", "/streams/definitions/new")[0] == 404

    # Failures are logged once per kind, and counted.
    wait_for("failures counted",
             lambda: f.get("/about")["store"]["failedWritesByKind"]
             .get("COMMIT", 0) >= 3)
    log = f.read_log()
    assert log.count("cannot be written (COMMIT)") == 1, log

    # An app killed during the outage is started again, but its process
    # cannot be recorded; flowd is killed before it can be.
    src = [i for i in f.instances("keep") if i["label"] == "load-sim"][0]
    os.kill(src["pid"], signal.SIGKILL)
    wait_for("source restarted", lambda: [
        i for i in f.instances("keep") if i["label"] == "load-sim"
        and i["pid"] not in (None, src["pid"])])
    unrecorded = [i for i in f.instances("keep")
                  if i["label"] == "load-sim"][0]["pid"]
    f.kill9()
    os.unlink(filler)

    # The next flowd finds exactly what the API said, and the process it
    # has no record of does not run beside the one started in its place.
    f.start()
    wait_for("ready", lambda: ready_status(f) == 200, timeout=60)
    assert f.status("gone-def") == "undeployed"
    assert f.status("keep") in ("deployed", "deploying")
    f.wait_status("keep", "deployed")
    f.wait_status("gone-dep", "deployed")
    assert f.request("GET", "/metrics/counters/sf-full")[0] == 200
    wait_for("the unrecorded process gone",
             lambda: unrecorded not in instance_procs(f.data_dir))
    procs = instance_procs(f.data_dir)
    ids = sorted(procs.values())
    assert len(ids) == len(set(ids)) == 4, procs
    api = sorted(i["pid"] for n in ("keep", "gone-dep")
                 for i in f.instances(n))
    assert sorted(procs) == api, (procs, api)

    # A second outage, and the same flowd sees the store come back.
    fill(filler)
    wait_for("/ready 503 again", lambda: ready_status(f) == 503)
    os.unlink(filler)
    wait_for("/ready 200 again", lambda: ready_status(f) == 200)
    store = f.get("/about")["store"]
    assert store["status"] == "ok" and store["failedWrites"] >= 1, store

    # Now every change is saved, and holds after a restart.
    assert f.request("DELETE", "/metrics/counters/sf-full")[0] == 204
    f.json("DELETE", "/streams/definitions/gone-def")
    f.json("DELETE", "/streams/deployments/gone-dep")
    f.json("DELETE", "/streams/deployments/keep")
    assert instance_procs(f.data_dir) == {}, instance_procs(f.data_dir)
    assert f.app_pids() == [], f.app_pids()
    assert f.terminate() == 0
    f.start()
    wait_for("ready", lambda: ready_status(f) == 200, timeout=60)
    assert f.request("GET", "/streams/definitions/gone-def")[0] == 404
    assert f.status("gone-dep") == "undeployed"
    assert f.status("keep") == "undeployed"
    assert instance_procs(f.data_dir) == {}
    assert f.app_pids() == []


TESTS = {
    "one_flowd_per_data_dir": test_one_flowd_per_data_dir,
    "adopted_source_ends_once": test_adopted_source_ends_once,
    "store_full": test_store_full,
}

if __name__ == "__main__":
    run(TESTS)
