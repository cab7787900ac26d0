#!/usr/bin/python3
"""Integration tests of flowd's hold on its data directory, its store and
its processes: one flowd per data directory, adopted apps' real exits, and
a store whose writes fail (a full disk).

Run one test: test_store_faults.py NAME; all: test_store_faults.py.
"""

import os
import signal
import sqlite3
import subprocess
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
    ends at exactly --count."""
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


TESTS = {
    "one_flowd_per_data_dir": test_one_flowd_per_data_dir,
    "adopted_source_ends_once": test_adopted_source_ends_once,
}

if __name__ == "__main__":
    run(TESTS)
