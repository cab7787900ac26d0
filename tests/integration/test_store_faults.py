#!/usr/bin/python3
"""Integration tests of flowd's hold on its data directory, its store and
its processes: one flowd per data directory, adopted apps' real exits, and
a store whose writes fail (a full disk).

Run one test: test_store_faults.py NAME; all: test_store_faults.py.
"""

import os
import signal
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


TESTS = {
    "one_flowd_per_data_dir": test_one_flowd_per_data_dir,
}

if __name__ == "__main__":
    run(TESTS)
