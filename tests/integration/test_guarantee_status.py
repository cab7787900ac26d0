#!/usr/bin/python3
"""A stream's delivery guarantee as users see it, with a real flowd: a
stream deployed with flow.guarantee=none shows it in REST (the
deployment, the definition, /runtime/streams), in `flowctl stream info`
and to the dashboard, runs as before (no checkpoint, no flag of the
checkpoint protocol on its apps' command lines, counters without a live
figure); a bad flow.* property is refused with a 400 that names it, by
REST and by flowctl, and nothing is deployed. (The exactly-once fault
battery needs the apps' side of the protocol and is a suite of its own.)

Run one test: test_guarantee_status.py NAME; all: test_guarantee_status.py.
"""

import json

from flowd_harness import Flowd, HttpError, flowctl, run, wait_for

WAIT = 30


def cmdlines(f):
    """The command lines of the apps flowd f runs, each a list."""
    out = []
    for pid in f.app_pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                out.append(fh.read().decode(errors="replace").split("\0"))
        except OSError:
            pass
    return out


def test_none_is_shown_everywhere():
    with Flowd() as f:
        f.create("plain", "load-sim --rate=200 --seed=1 | "
                 "counter --name=plain-hits")
        f.deploy("plain", {"flow.guarantee": "none"})
        f.wait_status("plain", "deployed", WAIT)
        d = f.get("/streams/deployments/plain")
        assert d["guarantee"] == "none", d
        assert d["checkpoint"] is None, d
        assert d["recovery"] is None, d
        assert "guarantee_note" not in d, d
        assert d["deploymentProperties"]["flow.guarantee"] == "none", d
        assert f.get("/streams/definitions/plain")["guarantee"] == "none"
        rs = f.get("/runtime/streams")["_embedded"]
        items = [s for v in rs.values() for s in v if s["name"] == "plain"]
        assert len(items) == 1 and items[0]["guarantee"] == "none", rs
        wait_for("two app processes", lambda: len(cmdlines(f)) == 2, WAIT)
        for argv in cmdlines(f):
            assert not any(a.startswith(("--flow.guarantee", "--flow.epoch",
                                         "--flow.restore"))
                           for a in argv), argv
        wait_for("plain-hits counted", lambda: f.counter("plain-hits") > 0,
                 WAIT)
        c = f.get("/metrics/counters/plain-hits")
        assert "live" not in c, c
        rc, out, err = flowctl(f, "stream", "info", "plain")
        assert rc == 0, err
        lines = [ln for ln in out.splitlines() if ln.startswith("Guarantee:")]
        assert lines == ["Guarantee:   none"], out
        assert "Checkpoint:" not in out, out
        rc, out, err = flowctl(f, "-o", "json", "stream", "info", "plain")
        assert rc == 0, err
        j = json.loads(out)
        assert j["deployment"]["guarantee"] == "none", j
        # The dashboard's stream card reads the same fields.
        status, _, body = f.request("GET", "/dashboard/js/pages/streams.js")
        assert status == 200
        assert b"d.guarantee" in body and b"ck.last_complete" in body


def test_bad_property_is_refused_by_name():
    with Flowd() as f:
        f.create("bad", "load-sim --rate=10 | counter --name=bad-hits")
        for key, value, says in (
                ("flow.checkpoint.interval", "soon", "must be a duration"),
                ("flow.guarantee", "twice",
                 "must be exactly-once, at-least-once or none"),
                ("flow.checkpoint.retain", "0", "from 1 to 100"),
                ("flow.key-groups", "7", "to 32768")):
            try:
                f.deploy("bad", {key: value})
            except HttpError as e:
                assert e.status == 400, e
                assert f"'{key}'" in e.body and says in e.body, e
            else:
                raise AssertionError(f"{key}={value} was accepted")
            assert f.status("bad") == "undeployed"
        rc, out, err = flowctl(f, "deploy", "bad", "--properties",
                               "flow.guarantee=twice")
        assert rc != 0, out
        assert "'flow.guarantee'" in err, err
        assert f.status("bad") == "undeployed"
        assert f.app_pids() == [], f.app_pids()
        # Good values of the same properties are taken.
        f.deploy("bad", {"flow.guarantee": "none",
                         "flow.checkpoint.interval": "500ms",
                         "flow.checkpoint.timeout": "2s",
                         "flow.checkpoint.retain": "2",
                         "flow.key-groups": "64"})
        f.wait_status("bad", "deployed", WAIT)


TESTS = {
    "none_is_shown_everywhere": test_none_is_shown_everywhere,
    "bad_property_is_refused_by_name": test_bad_property_is_refused_by_name,
}

if __name__ == "__main__":
    run(TESTS)
