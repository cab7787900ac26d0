#!/usr/bin/python3
"""Integration tests of the loopback TCP ports flowd hands to the apps of
a stream deployed with deployer.*.transport=tcp: when none is free, the
deployment fails with an error that says so, and nothing is started on
tcp://127.0.0.1:0.

flowd runs with noport.so preloaded (FLOW_IT_NOPORT), which, once the
test has made the file FLOW_NOPORT_WHEN names, makes every bind to port 0
fail as when no ephemeral port is left.

Run one test: test_ports.py NAME; all: test_ports.py.
"""

import os
import shutil
import sys
import tempfile

from flowd_harness import Flowd, run, wait_for

NOPORT = os.environ.get("FLOW_IT_NOPORT", "")


def noport_flowd(flag):
    # Sanitizer runtimes linked dynamically want to be first; the shim
    # only wraps bind(), so the order does not matter here.
    return Flowd(env={"LD_PRELOAD": NOPORT, "FLOW_NOPORT_WHEN": flag,
                      "ASAN_OPTIONS": "verify_asan_link_order=0"})


def with_noport_flowd(body):
    """Runs body(flowd, flag): flowd has the shim, and binds to port 0
    fail while the file flag exists."""
    work = tempfile.mkdtemp(prefix="flowd-noport-")
    flag = os.path.join(work, "no-ports")
    try:
        with noport_flowd(flag) as f:
            body(f, flag)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_no_free_port_fails_deploy():
    """With tcp transport and no port free, the deploy is refused with
    the reason, the stream stays undeployed and no app runs."""
    with_noport_flowd(deploy_without_ports)


def test_no_free_port_fails_scale():
    """A scale-up of a guaranteed stream is answered once the count is
    recorded; the region then restarts from a checkpoint (docs/flowd.md
    "Checkpoints and recovery"), and when no port is free for the new
    instances, flowd's log says so and the region runs, counts and
    records the instances it had."""
    with_noport_flowd(scale_guaranteed_without_ports)


def test_no_free_port_fails_scale_unguaranteed():
    """Without a guarantee a scale-up that finds no port free fails with
    the reason and keeps the instances the stream had, counted as
    before."""
    with_noport_flowd(scale_without_ports)


def deploy_without_ports(f, flag):
    open(flag, "w").close()
    f.create("noport", "time | log")
    st, _, body = f.request("POST", "/streams/deployments/noport",
                            {"deployer.*.transport": "tcp"})
    text = body.decode()
    assert st == 422, (st, text)
    assert "no loopback TCP port is free for app 'time'" in text, text
    assert "Address already in use" in text, text
    assert f.status("noport") == "undeployed", f.status("noport")
    assert f.app_pids() == [], f.app_pids()
    # The same stream over ipc:// needs no port and deploys.
    f.deploy("noport")
    f.wait_status("noport", "deployed", timeout=30)
    eps = [e for i in f.instances("noport")
           for e in i["endpoints"].values()]
    assert eps and not any(":0" in str(e) for e in eps), eps


def scale_guaranteed_without_ports(f, flag):
    f.create("noscale", "time | log")
    f.deploy("noscale", {"deployer.*.transport": "tcp"})
    f.wait_status("noscale", "deployed", timeout=30)
    d = f.get("/streams/deployments/noscale")
    assert d["guarantee"] == "exactly-once", d
    assert d["checkpoint"]["epoch"] == 1, d
    open(flag, "w").close()
    f.json("POST", "/streams/deployments/scale/noscale/time/instances/3",
           expect=202)
    wait_for("the region restarted",
             lambda: f.get("/streams/deployments/noscale")
             ["checkpoint"]["epoch"] == 2, 60)
    msg = ("no loopback TCP port is free for instance 1 of 'time' "
           "(Address already in use); it is not started")
    wait_for("the reason in flowd's log", lambda: msg in f.read_log(), 30)
    f.wait_status("noscale", "deployed", timeout=30)
    times = [i for i in f.instances("noscale") if i["label"] == "time"]
    assert len(times) == 1, times
    assert times[0]["state"] == "deployed", times
    assert not any(":0" in str(e) for e in times[0]["endpoints"].values())
    props = f.get("/streams/deployments/noscale")["deploymentProperties"]
    assert props.get("deployer.time.count") == "1", props


def scale_without_ports(f, flag):
    f.create("noscale", "time | log")
    # flow.guarantee=none: a guaranteed stream's scale is answered before
    # the instances change (scale_guaranteed_without_ports).
    f.deploy("noscale", {"deployer.*.transport": "tcp",
                         "flow.guarantee": "none"})
    f.wait_status("noscale", "deployed", timeout=30)
    open(flag, "w").close()
    st, _, body = f.request(
        "POST", "/streams/deployments/scale/noscale/time/instances/3")
    text = body.decode()
    assert st == 500, (st, text)
    assert "no loopback TCP port is free for a new instance of 'time'" \
        in text, text
    times = [i for i in f.instances("noscale") if i["label"] == "time"]
    assert len(times) == 1, times
    assert times[0]["state"] == "deployed", times
    assert not any(":0" in str(e) for e in times[0]["endpoints"].values())
    props = f.get("/streams/deployments/noscale")["deploymentProperties"]
    assert props.get("deployer.time.count") == "1", props
    f.wait_status("noscale", "deployed", timeout=30)


TESTS = {
    "no_free_port_fails_deploy": test_no_free_port_fails_deploy,
    "no_free_port_fails_scale": test_no_free_port_fails_scale,
    "no_free_port_fails_scale_unguaranteed":
        test_no_free_port_fails_scale_unguaranteed,
}

if __name__ == "__main__":
    if not NOPORT or not os.path.exists(NOPORT):
        print("FLOW_IT_NOPORT does not name the shim", file=sys.stderr)
        sys.exit(2)
    run(TESTS)
