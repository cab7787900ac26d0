#!/usr/bin/python3
"""The status says what users see: real flowd and apps whose trouble does
not end their process. An instance that stops reporting metrics is
`stale` and its stream `degraded`; an app failing most of its events makes
its stream `degraded` with its last error; a source stopped before the end
of its input is restarted as a crash. Each is checked in REST and in the
server-sent events of /events, with a bounded wait.

Run one test: test_status.py NAME; all: test_status.py.
"""

import json
import os
import signal
import threading
import time

from flowd_harness import Flowd, run, wait_for

# Generous: the contract is 5 s, the machine may be loaded.
WAIT = 30


class Events:
    """Collects the stream-status events of /events in a thread."""

    def __init__(self, f):
        self.resp = f.sse("/events")
        self.status = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        event = None
        try:
            for raw in self.resp:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "stream-status":
                    with self.lock:
                        self.status.append(json.loads(line[6:]))
        except (OSError, ValueError):
            pass

    def seen(self, name, status, text=""):
        """The first event of stream name with status whose description
        holds text, or None."""
        with self.lock:
            for e in self.status:
                if e["name"] == name and e["status"] == status and \
                        text in e["statusDescription"]:
                    return e
        return None

    def statuses(self, name):
        with self.lock:
            return [e["status"] for e in self.status if e["name"] == name]

    def close(self):
        self.resp.close()


def deployment(f, name):
    return f.get(f"/streams/deployments/{name}")


def instance(f, name, label, index=0):
    return [i for i in f.instances(name)
            if i["label"] == label and i["index"] == index][0]


def test_healthy_stays_deployed():
    """A stream that works stays `deployed`, every instance `deployed`,
    for longer than it takes to become stale or degraded."""
    with Flowd() as f:
        ev = Events(f)
        try:
            f.create("fine", "load-sim --rate=500 | account-events | "
                     "counter --name=fine-load", deploy=True)
            f.wait_status("fine", "deployed", WAIT)
            wait_for("events counted", lambda: f.counter("fine-load") > 500,
                     WAIT)
            time.sleep(6)
            d = deployment(f, "fine")
            assert d["status"] == "deployed", d
            assert d["statusDescription"] == "all 3 apps are deployed", d
            assert [i["state"] for i in f.instances("fine")] == \
                ["deployed"] * 3, f.instances("fine")
            assert "degraded" not in ev.statuses("fine"), ev.statuses("fine")
            assert ev.statuses("fine")[-1] == "deployed", ev.statuses("fine")
        finally:
            ev.close()


def test_stopped_app_is_stale():
    """SIGSTOP an instance: it is `stale` and its stream `degraded` with
    the reason; SIGCONT: `deployed` again."""
    with Flowd() as f:
        ev = Events(f)
        victim = None
        try:
            # Without a guarantee: a guaranteed stream's stopped instance
            # is not left stale but its region is restarted from a
            # checkpoint (docs/flowd.md "Checkpoints and recovery",
            # test_faults.py sigstop_zombie).
            f.create("frozen", "time --fixed-delay=1 | log")
            f.deploy("frozen", {"flow.guarantee": "none"})
            f.wait_status("frozen", "deployed", WAIT)
            victim = instance(f, "frozen", "log")["pid"]
            os.kill(victim, signal.SIGSTOP)
            reason = "app log instance 0 stopped reporting metrics (stale for"
            wait_for("degraded in REST", lambda: reason in deployment(
                f, "frozen")["statusDescription"], WAIT)
            d = deployment(f, "frozen")
            assert d["status"] == "degraded", d
            assert f.get("/streams/definitions/frozen")["status"] == \
                "degraded"
            assert instance(f, "frozen", "log")["state"] == "stale"
            assert instance(f, "frozen", "time")["state"] == "deployed"
            wait_for("degraded in /events",
                     lambda: ev.seen("frozen", "degraded", reason), WAIT)
            os.kill(victim, signal.SIGCONT)
            f.wait_status("frozen", "deployed", WAIT)
            assert instance(f, "frozen", "log")["state"] == "deployed"
            assert instance(f, "frozen", "log")["restarts"] == 0
            wait_for("deployed again in /events",
                     lambda: ev.statuses("frozen")[-1] == "deployed", WAIT)
        finally:
            if victim:
                try:
                    os.kill(victim, signal.SIGCONT)
                except OSError:
                    pass
            ev.close()


def test_failing_app_degrades():
    """An app that rejects every event makes its stream `degraded`, with
    the ratio and its last error; a threshold of 100% keeps it
    `deployed`; a threshold that is not a percentage is refused."""
    demo = ("load-sim --rate=500 --illegal-ratio=1 | account-events | "
            "counter --name=bad-load")
    with Flowd() as f:
        ev = Events(f)
        try:
            f.create("bad", demo, deploy=True)
            wait_for("degraded in REST",
                     lambda: f.status("bad") == "degraded", WAIT)
            d = deployment(f, "bad")
            desc = d["statusDescription"]
            assert desc.startswith("app account-events failed "), desc
            assert "(100%, over its 50% error threshold); last error: " \
                "rejected a " in desc, desc
            app = [a for a in d["apps"] if a["label"] == "account-events"][0]
            assert app["status"] == "degraded", app
            # The instance's own fields; its lastError may be newer than
            # the one the description quotes (the status is derived when
            # it changes, the error is the latest metrics report's).
            i = app["instances"][0]
            assert i["state"] == "deployed", i
            assert i["errors"] > 0 and i["out"] == 0, i
            assert i["lastError"].startswith("rejected a "), i
            assert i["errorRatio"] == 1.0, i
            wait_for("degraded in /events", lambda: ev.seen(
                "bad", "degraded", "app account-events failed "), WAIT)
            assert f.counter("bad-load") == 0

            f.json("DELETE", "/streams/deployments/bad")
            f.wait_status("bad", "undeployed", WAIT)
            f.deploy("bad", {"deployer.account-events.errorThreshold": "100"})
            f.wait_status("bad", "deployed", WAIT)
            wait_for("errors counted", lambda: instance(
                f, "bad", "account-events")["errors"] > 1000, WAIT)
            time.sleep(3)
            assert f.status("bad") == "deployed"

            st, _, body = f.request(
                "POST", "/streams/deployments/bad",
                {"deployer.*.errorThreshold": "half"})
            assert st in (400, 409), (st, body)
            f.json("DELETE", "/streams/deployments/bad")
            f.wait_status("bad", "undeployed", WAIT)
            st, _, body = f.request(
                "POST", "/streams/deployments/bad",
                {"deployer.*.errorThreshold": "half"})
            assert st == 400, (st, body)
            assert "must be a percentage from 0 to 100" in \
                json.loads(body)["message"], body
        finally:
            ev.close()


def test_unbounded_source_exit_is_a_crash():
    """A source meant to run forever (load-sim --count=0) that exits 0
    on SIGTERM it did not get from flowd is restarted as a crash; a
    bounded one that reaches its count completes."""
    with Flowd() as f:
        ev = Events(f)
        try:
            f.create("forever", "load-sim --rate=200 | counter "
                     "--name=forever-load", deploy=True)
            f.wait_status("forever", "deployed", WAIT)
            victim = instance(f, "forever", "load-sim")
            os.kill(victim["pid"], signal.SIGTERM)
            reason = ("stopped by a signal before the end of its input "
                      "(exit status 0)")

            def restarted():
                i = instance(f, "forever", "load-sim")
                return i["restarts"] == 1 and i["pid"] and \
                    i["pid"] != victim["pid"] and i["state"] == "deployed"
            wait_for("restart", restarted, WAIT)
            i = instance(f, "forever", "load-sim")
            assert i["lastExit"] == reason, i
            f.wait_status("forever", "deployed", WAIT)
            wait_for("partial in /events",
                     lambda: ev.seen("forever", "partial", reason), WAIT)
            assert "completed" not in [
                x["state"] for x in f.instances("forever")]

            f.create("bounded", "load-sim --count=500 --rate=0 | counter "
                     "--name=bounded-load", deploy=True)
            wait_for("500 counted", lambda: f.counter("bounded-load") == 500,
                     WAIT)
            wait_for("source completed", lambda: instance(
                f, "bounded", "load-sim")["state"] == "completed", WAIT)
            i = instance(f, "bounded", "load-sim")
            assert i["restarts"] == 0 and i["lastExit"] == "exit status 0", i
            assert f.status("bounded") == "deployed"
            time.sleep(2)
            assert f.counter("bounded-load") == 500
        finally:
            ev.close()


TESTS = {
    "healthy_stays_deployed": test_healthy_stays_deployed,
    "stopped_app_is_stale": test_stopped_app_is_stale,
    "failing_app_degrades": test_failing_app_degrades,
    "unbounded_source_exit_is_a_crash": test_unbounded_source_exit_is_a_crash,
}

if __name__ == "__main__":
    run(TESTS)
