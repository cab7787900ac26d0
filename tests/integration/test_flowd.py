#!/usr/bin/python3
"""Integration tests of flowd: real flowd and app processes on free ports
with fresh data directories, driven over HTTP as a user would.

Run one test: test_flowd.py NAME; all: test_flowd.py.
"""

import json
import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import tempfile
import time
import urllib.request

from flowd_harness import (AppsDir, FLOWD, Flowd, flowctl, HttpError,
                           pids_with, run, wait_for)

DEMO = "load-sim --rate=2000 | account-events | counter --name=it-load"


def test_lifecycle():
    """create, deploy, status, counters rising, scale, undeploy, destroy."""
    with Flowd() as f:
        d = f.create("demo", DEMO)
        assert d["status"] == "undeployed", d
        assert [a["type"] for a in d["apps"]] == ["source", "processor",
                                                  "sink"], d
        assert d["_links"]["self"]["href"] == "/streams/definitions/demo"
        lst = f.get("/streams/definitions?search=account")
        assert lst["page"]["totalElements"] == 1, lst
        assert lst["_embedded"]["streamDefinitionResourceList"][0][
            "name"] == "demo"
        assert f.get("/streams/definitions?search=nothing-like-it")[
            "page"]["totalElements"] == 0

        f.deploy("demo")
        f.wait_status("demo", "deployed")
        pids = [i["pid"] for i in f.instances("demo")]
        assert len(pids) == 3 and all(pids), pids

        first = wait_for("counter", lambda: f.counter("it-load"))
        wait_for("counter rising", lambda: f.counter("it-load") > first)
        rt = f.get("/runtime/apps")
        assert rt["page"]["totalElements"] == 3, rt
        # As docs/rest.md says: an app has a status, an instance a state.
        dep = f.get("/streams/deployments/demo")
        for a in (rt["_embedded"]["appStatusResourceList"] + dep["apps"]):
            assert a["status"] == "deployed" and "state" not in a, a
            for i in a["instances"]:
                assert i["state"] == "deployed" and "status" not in i, i
        assert f.get("/runtime/streams")["_embedded"][
            "streamStatusResourceList"][0]["name"] == "demo"

        # Scale the processor to two instances; both do work.
        f.json("POST", "/streams/deployments/scale/demo/account-events/"
               "instances/2", expect=202)
        wait_for("2 instances deployed", lambda: [
            i["state"] for i in f.instances("demo")
            if i["label"] == "account-events"] == ["deployed", "deployed"])
        f.wait_status("demo", "deployed")
        wait_for("both instances receive", lambda: all(
            i["in"] > 0 for i in f.instances("demo")
            if i["label"] == "account-events"))
        props = f.get("/streams/deployments/demo")["deploymentProperties"]
        assert props.get("deployer.account-events.count") == "2", props
        before = f.counter("it-load")
        wait_for("counter rising after scaling",
                 lambda: f.counter("it-load") > before)
        f.json("POST", "/streams/deployments/scale/demo/account-events/"
               "instances/1", expect=202)
        wait_for("back to 1 instance", lambda: len([
            i for i in f.instances("demo")
            if i["label"] == "account-events"]) == 1)

        logs = f.get("/streams/logs/demo")
        assert "demo.counter-0" in logs["logs"], logs
        f.get("/streams/logs/demo/counter")

        all_pids = [i["pid"] for i in f.instances("demo")]
        d = f.json("DELETE", "/streams/deployments/demo")
        assert d["status"] == "undeployed", d
        # The response comes when every process is gone.
        alive = [p for p in all_pids if p in pids_with("--flow.stream=demo")]
        assert not alive, alive
        assert not f.app_pids(), f.app_pids()
        assert f.status("demo") == "undeployed"

        f.json("DELETE", "/streams/definitions/demo")
        st, _, _ = f.request("GET", "/streams/definitions/demo")
        assert st == 404


def write_slow_stopper(tmp):
    """A sink whose instances other than 0 take a second to stop after
    SIGTERM, so the instances a scale-down removes exit last."""
    path = os.path.join(tmp, "slowstop")
    with open(path, "w") as fh:
        fh.write("#!/bin/sh\n"
                 "if [ \"$1\" = --describe ]; then\n"
                 "  echo '{\"name\": \"slowstop\", \"role\": \"sink\", "
                 "\"description\": \"stops slowly\", \"options\": []}'\n"
                 "  exit 0\n"
                 "fi\n"
                 "slow=1\n"
                 "for a; do [ \"$a\" = --flow.instance=0 ] && slow=0; done\n"
                 "trap '[ $slow = 1 ] && sleep 1; exit 0' TERM\n"
                 "while :; do sleep 0.1; done\n")
    os.chmod(path, stat.S_IRWXU)
    return path


def test_scale_down_then_undeploy():
    """An undeploy that comes while a scale-down's instances are still
    stopping answers once every process is gone, even when those are the
    last to exit."""
    with AppsDir() as apps, Flowd("--apps-dir", apps) as f:
        path = write_slow_stopper(apps)
        f.json("POST", "/apps/sink/slowstop", {"uri": path}, expect=201)
        f.create("sd", "time | slowstop")
        f.deploy("sd", {"deployer.slowstop.count": "3"})
        wait_for("3 slowstop processes", lambda: len([
            i for i in f.instances("sd")
            if i["label"] == "slowstop" and i.get("pid")]) == 3)
        f.json("POST", "/streams/deployments/scale/sd/slowstop/instances/1",
               expect=202)
        d = f.json("DELETE", "/streams/deployments/sd")
        assert d["status"] == "undeployed", d
        assert not pids_with("--flow.stream=sd")
        assert not f.app_pids(), f.app_pids()


def test_bad_requests():
    with Flowd() as f:
        st, _, body = f.request("POST", "/streams/definitions",
                                {"name": "bad",
                                 "definition": "load-sim | cuonter"})
        e = json.loads(body)
        assert st == 400, (st, e)
        assert e["status"] == 400 and e["error"] == "Bad Request", e
        err = e["errors"][0]
        assert err["offset"] == 11 and err["line"] == 1 and \
            err["column"] == 12, e
        assert "counter" in err["message"], e

        st, _, body = f.request("POST", "/streams/definitions",
                                {"name": "bad", "definition": "load-sim |"})
        assert st == 400 and json.loads(body)["errors"], body

        f.create("ok", "time | log")
        st, _, body = f.request("POST", "/streams/definitions",
                                {"name": "ok", "definition": "time | log"})
        assert st == 409, body
        for name in ["Upper", "9lives", "a" * 49, "under_score"]:
            st, _, body = f.request("POST", "/streams/definitions",
                                    {"name": name, "definition": "time | log"})
            assert st == 400, (name, body)

        # Form fields are accepted too.
        st, _, body = f.request(
            "POST", "/streams/definitions",
            raw=b"name=formed&definition=time+%7C+log",
            content_type="application/x-www-form-urlencoded")
        assert st == 201, body
        assert json.loads(body)["dslText"] == "time | log"

        st, _, body = f.request("POST", "/streams/definitions",
                                raw=b"<x/>", content_type="text/xml")
        assert st == 415, body
        st, _, body = f.request("POST", "/streams/definitions",
                                raw=b"{not json",
                                content_type="application/json")
        assert st == 400, body
        big = b'{"name":"big","definition":"' + b"x" * (1024 * 1024) + b'"}'
        st, _, body = f.request("POST", "/streams/definitions", raw=big,
                                content_type="application/json")
        assert st == 413, body
        assert json.loads(body)["status"] == 413

        st, _, body = f.request("POST", "/streams/deployments/ok",
                                {"foo.bar": "1"})
        assert st == 400 and b"allowed are" in body, body
        st, _, body = f.request("POST", "/streams/deployments/ok",
                                {"deployer.nosuch.count": "2"})
        assert st == 400, body
        st, _, body = f.request("POST", "/streams/deployments/ok",
                                {"deployer.log.count": "zero"})
        assert st == 400, body
        st, _, body = f.request("POST", "/streams/deployments/ok",
                                {"app.log.no-such-option": "1"})
        assert st == 400, body

        st, _, body = f.request("GET", "/no/such/route")
        assert st == 404 and json.loads(body)["status"] == 404
        st, hdr, body = f.request("PUT", "/streams/definitions")
        assert st == 405 and "GET" in hdr["Allow"], (st, body)
        st, _, body = f.request("GET", "/streams/definitions/nope")
        assert st == 404
        st, _, body = f.request("GET", "/streams/definitions?size=0")
        assert st == 400
        st, _, body = f.request(
            "GET", "/metrics/aggregate-counters/none?resolution=week")
        assert st == 404

        # Validation stores nothing.
        v = f.json("POST", "/streams/validation",
                   {"definition": "time | log"})
        assert v["valid"] is True and len(v["apps"]) == 2
        # An invalid definition is an answer (200), not a failed request.
        st, _, body = f.request("POST", "/streams/validation",
                                {"definition": "time | lgo"})
        v = json.loads(body)
        assert st == 200 and v["valid"] is False, (st, body)
        assert v["errors"][0]["offset"] == 7 and "lgo" in v["message"]
        st, _, body = f.request("POST", "/streams/validation", {})
        assert st == 400, (st, body)


def test_app_killed_is_restarted():
    with Flowd() as f:
        f.create("k", DEMO.replace("it-load", "k-load"), deploy=True)
        f.wait_status("k", "deployed")
        victim = [i for i in f.instances("k")
                  if i["label"] == "account-events"][0]
        os.kill(victim["pid"], signal.SIGKILL)

        def restarted():
            i = [i for i in f.instances("k")
                 if i["label"] == "account-events"][0]
            return i["restarts"] >= 1 and i["pid"] and \
                i["pid"] != victim["pid"] and i["state"] == "deployed"
        wait_for("restart", restarted)
        f.wait_status("k", "deployed")
        i = [i for i in f.instances("k")
             if i["label"] == "account-events"][0]
        assert i["lastExit"] == "killed by signal 9", i
        before = f.counter("k-load")
        wait_for("events flow again", lambda: f.counter("k-load") > before)
        assert victim["pid"] not in pids_with("--flow.stream=k")


def write_crasher(tmp):
    """An app that describes itself and then always crashes."""
    path = os.path.join(tmp, "crasher")
    with open(path, "w") as fh:
        fh.write("#!/bin/sh\n"
                 "if [ \"$1\" = --describe ]; then\n"
                 "  echo '{\"name\": \"crasher\", \"role\": \"sink\", "
                 "\"description\": \"always crashes\", \"options\": []}'\n"
                 "  exit 0\n"
                 "fi\n"
                 "echo 'crashing on purpose' >&2\n"
                 "exit 3\n")
    os.chmod(path, stat.S_IRWXU)
    return path


def test_crashing_app_fails():
    with AppsDir() as apps, Flowd("--apps-dir", apps) as f:
        path = write_crasher(apps)
        r = f.json("POST", "/apps/sink/crasher", {"uri": path}, expect=201)
        assert r["uri"] == path and r["builtin"] is False, r
        st, _, body = f.request("POST", "/apps/sink/crasher", {"uri": path})
        assert st == 409, body
        st, _, body = f.request("POST", "/apps/sink/other", {"uri": path})
        assert st == 422, body
        st, _, body = f.request("POST", "/apps/sink/rel",
                                {"uri": "bin/crasher"})
        assert st == 400, body
        assert f.get("/apps/sink/crasher")["options"] == []

        f.create("crashy", "time | crasher")
        f.deploy("crashy", {"deployer.crasher.maxRestarts": "2",
                            "deployer.crasher.restartWindow": "60"})
        f.wait_status("crashy", "failed", timeout=30)
        d = f.get("/streams/definitions/crashy")
        assert "crasher" in d["statusDescription"], d
        inst = [i for i in f.instances("crashy") if i["label"] == "crasher"]
        assert inst[0]["state"] == "failed" and inst[0]["pid"] is None, inst
        assert inst[0]["lastExit"] == "exit status 3", inst
        logs = f.get("/streams/logs/crashy/crasher")["logs"]
        assert "crashing on purpose" in logs["crashy.crasher-0"], logs

        st, _, body = f.request("DELETE", "/apps/sink/crasher")
        assert st == 409, body
        f.json("DELETE", "/streams/definitions/crashy")
        f.json("DELETE", "/apps/sink/crasher")
        st, _, _ = f.request("GET", "/apps/sink/crasher")
        assert st == 404


def test_deterministic_count():
    """200,000 events end as exactly 200,000 counted."""
    with Flowd() as f:
        n = 200000
        f.create("det", f"load-sim --count={n} --rate=0 --seed=7 | "
                 "account-events | counter --name=det-count", deploy=True)
        f.create("det-types", f"load-sim --count={n} --rate=0 --seed=7 | "
                 "field-value-counter --field-name=type --name=det-types",
                 deploy=True)
        def fvc_sum():
            st, _, body = f.request(
                "GET", "/metrics/field-value-counters/det-types")
            return sum(json.loads(body)["values"].values()) if st == 200 \
                else 0
        wait_for("all counted", lambda: f.counter("det-count") >= n and
                 fvc_sum() >= n, timeout=180, interval=0.2)
        # The sources finished; the sinks have seen every event.
        wait_for("sources completed", lambda: all(
            i["state"] == "completed" for s in ("det", "det-types")
            for i in f.instances(s) if i["label"] == "load-sim"))
        wait_for("sinks received all", lambda: all(
            i["in"] == n for s in ("det", "det-types")
            for i in f.instances(s) if i["label"] != "load-sim"))
        # Two more report periods: nothing may be counted twice.
        time.sleep(2.5)
        assert f.counter("det-count") == n, f.counter("det-count")
        values = f.get("/metrics/field-value-counters/det-types")["values"]
        assert sum(values.values()) == n, values
        counts = list(values.values())
        assert counts == sorted(counts, reverse=True), values
        agg = f.get("/metrics/aggregate-counters/det-count"
                    "?resolution=minute")
        assert agg["total"] == n and sum(agg["values"].values()) == n, agg
        assert len(agg["values"]) == 60, len(agg["values"])


def test_promtool():
    promtool = shutil.which("promtool")
    with Flowd() as f:
        f.create("p", DEMO.replace("it-load", "p-load"), deploy=True)
        f.wait_status("p", "deployed")
        wait_for("counter", lambda: f.counter("p-load"))
        st, hdr, body = f.request("GET", "/metrics")
        assert st == 200 and hdr["Content-Type"].startswith("text/plain")
        text = body.decode()
        assert 'flow_app_events_in_total{stream="p",app="counter",' \
            'instance="0"}' in text, text
        assert 'flow_analytics_events_total{name="p-load"}' in text
        assert 'flow_stream_status{stream="p",status="deployed"} 1' in text
        if promtool is None:
            raise AssertionError("promtool is not installed (Debian package "
                                 "prometheus)")
        p = subprocess.run([promtool, "check", "metrics"], input=body,
                           capture_output=True)
        assert p.returncode == 0, p.stdout + p.stderr


def api_routes():
    """(method, path) of every route in flowd's own route table (flowd
    --routes prints the table the router uses), with "x" for each path
    parameter, so that a new route is covered here without being listed
    by hand."""
    p = subprocess.run([FLOWD, "--routes"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0 and not p.stderr, (p.returncode, p.stderr)
    out = []
    for line in p.stdout.splitlines():
        method, pattern = line.split(" ")
        out.append((method, pattern.replace("{*}", "x").replace("{}", "x")))
    assert len(out) >= 30 and ("GET", "/events") in out, out
    assert len(set(out)) == len(out), out
    return out


# Open without a token: no data, only the page and liveness.
OPEN_ROUTES = {("GET", "/"), ("GET", "/dashboard/x"),
               ("GET", "/vendor/uplot/x"), ("GET", "/health")}


def test_token_matrix():
    token = "s3cret-token-for-tests"
    routes = api_routes()
    with Flowd(token=token) as f:
        about = f.get("/about")["security"]
        assert about["authenticationEnabled"] is True, about
        assert about["authentication"] == "token", about
        assert about["tokenSource"] == "--token", about
        for method, path in routes:
            for tok, ok in [("", False), ("wrong", False),
                            (token + "x", False), (token[:-1], False),
                            (token, True)]:
                if method == "GET" and path == "/events" and ok:
                    continue  # a stream; checked below
                h = {"Authorization": f"Bearer {tok}"} if tok else {}
                st, hdr, body = f.request(method, path, headers=h,
                                          token="", body={} if method ==
                                          "POST" else None)
                if ok or (method, path) in OPEN_ROUTES:
                    assert st != 401, (method, path, st, body)
                else:
                    assert st == 401, (method, path, tok, st, body)
                    assert json.loads(body)["status"] == 401
                    assert hdr["WWW-Authenticate"] == "Bearer"
        st, _, _ = f.request("GET", "/health", token="")
        assert st == 200
        st, _, _ = f.request("GET", "/events?access_token=nope", token="")
        assert st == 401
        # ?access_token= is for /events alone (EventSource sends no
        # headers); anywhere else it is refused, even beside the header.
        for method, path in routes:
            if (method, path) in OPEN_ROUTES or path == "/events":
                continue
            st, _, body = f.request(method, f"{path}?access_token={token}",
                                    token="", body={} if method == "POST"
                                    else None)
            assert st == 401 and b"only on /events" in body, (path, st, body)
        st, _, body = f.request("GET", f"/about?access_token={token}")
        assert st == 401 and b"only on /events" in body, (st, body)
    # With --auth=none on loopback everything is open.
    with Flowd("--auth=none") as f:
        for method, path in routes:
            if path == "/events":
                continue
            st, _, body = f.request(method, path,
                                    body={} if method == "POST" else None)
            assert st not in (401, 403), (method, path, st, body)
        assert f.get("/about")["security"]["authenticationEnabled"] is False
    # Not on loopback and --auth=none: reading works, changing is refused.
    with Flowd("--bind", "0.0.0.0", "--auth=none") as f:
        assert f.get("/streams/definitions")["page"]["totalElements"] == 0
        st, _, body = f.request("POST", "/streams/definitions",
                                {"name": "x", "definition": "time | log"})
        assert st == 403 and b"--auth=none" in body, (st, body)
        st, _, body = f.request("DELETE", "/streams/definitions/x")
        assert st == 403, (st, body)


def test_flowd_restart_adopts_apps():
    with Flowd() as f:
        f.create("adopt", DEMO.replace("it-load", "adopt-load"), deploy=True)
        f.wait_status("adopt", "deployed")
        before = sorted(i["pid"] for i in f.instances("adopt"))
        wait_for("counter", lambda: f.counter("adopt-load"))
        f.kill9()
        assert sorted(f.app_pids()) == before, (f.app_pids(), before)
        f.start()
        f.wait_status("adopt", "deployed")
        after = sorted(i["pid"] for i in f.instances("adopt"))
        assert after == before, (before, after)
        assert sorted(f.app_pids()) == before, f.app_pids()
        c = f.counter("adopt-load")
        wait_for("events counted after restart",
                 lambda: f.counter("adopt-load") > c)

        # An app that died while flowd was down is started again.
        f.kill9()
        os.kill(before[0], signal.SIGKILL)
        f.start()
        f.wait_status("adopt", "deployed")
        now = sorted(i["pid"] for i in f.instances("adopt"))
        assert before[0] not in now and len(now) == 3, (before, now)
        assert sorted(f.app_pids()) == now, (f.app_pids(), now)

        # Undeployed while flowd is down: nothing comes back.
        f.json("DELETE", "/streams/deployments/adopt")
        assert not f.app_pids()
        f.kill9()
        f.start()
        assert f.status("adopt") == "undeployed"
        assert not f.app_pids()


def test_events_and_static():
    tmp = tempfile.mkdtemp(prefix="flowd-static-")
    try:
        dash = os.path.join(tmp, "dash")
        os.makedirs(os.path.join(dash, "js"))
        with open(os.path.join(dash, "index.html"), "w") as fh:
            fh.write("<!doctype html><title>flow</title>")
        with open(os.path.join(dash, "js", "app.js"), "w") as fh:
            fh.write("export {};")
        with open(os.path.join(tmp, "secret.txt"), "w") as fh:
            fh.write("TOPSECRET-CONTENT")
        os.symlink(os.path.join(tmp, "secret.txt"),
                   os.path.join(dash, "link.txt"))
        with Flowd("--dashboard-dir", dash, "--uplot-dir", dash) as f:
            st, hdr, body = f.request("GET", "/")
            assert st == 200 and body.startswith(b"<!doctype"), body
            assert hdr["Content-Type"].startswith("text/html")
            st, hdr, body = f.request("GET", "/dashboard/js/app.js")
            assert st == 200 and hdr["Content-Type"].startswith(
                "text/javascript"), hdr
            st, _, _ = f.request("GET", "/vendor/uplot/index.html")
            assert st == 200
            for bad in ["/dashboard/../secret.txt", "/dashboard/link.txt",
                        "/dashboard/%2e%2e/secret.txt", "/dashboard/.x",
                        "/dashboard/nope.js", "/vendor/uplot/../x"]:
                st, _, body = f.request("GET", bad)
                assert st == 404 and b"TOPSECRET" not in body, (bad, st, body)
            # Raw request line, no client-side normalisation.
            s = socket.create_connection(("127.0.0.1", f.port))
            s.sendall(b"GET /dashboard/../../secret.txt HTTP/1.1\r\n"
                      b"Host: x\r\nConnection: close\r\n\r\n")
            resp = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                resp += chunk
            s.close()
            assert b"TOPSECRET" not in resp, resp

            # Server-sent events: status on connect and on change.
            req = urllib.request.Request(
                f.base + "/events",
                headers={"Authorization": f"Bearer {f.token}"})
            ev = urllib.request.urlopen(req, timeout=30)
            assert ev.headers["Content-Type"].startswith("text/event-stream")
            f.create("sse", "time | log")
            f.deploy("sse")
            seen = set()
            deadline = time.monotonic() + 30
            event = None
            while time.monotonic() < deadline and not (
                    "deployed" in seen and "rates" in seen):
                line = ev.readline().decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
                    if event == "stream-status" and data["name"] == "sse":
                        seen.add(data["status"])
                    elif event in ("rates", "counters"):
                        seen.add(event)
                        assert "ts" in data, data
            ev.close()
            assert "deployed" in seen and "rates" in seen, seen
            assert f.get("/ready")["status"] == "READY"
            about = f.get("/about")
            assert about["store"]["type"] == "sqlite", about
            c = f.get("/completions/stream?start=time%20%7C%20lo")
            assert any(p["text"].startswith("time | log")
                       for p in c["proposals"]), c
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_single_packaging():
    with Flowd() as f:
        f.create("one", DEMO.replace("it-load", "one-load"))
        d = f.deploy("one", {"deployer.packaging": "single"})
        assert d["packaging"] == "single", d
        f.wait_status("one", "deployed")
        pids = {i["pid"] for i in f.instances("one")}
        assert len(pids) == 1 and None not in pids, pids
        host = pids.pop()
        assert len(f.app_pids()) == 1, f.app_pids()
        first = wait_for("counter", lambda: f.counter("one-load"))
        wait_for("counter rising", lambda: f.counter("one-load") > first)
        st, _, body = f.request(
            "POST", "/streams/deployments/scale/one/counter/instances/2")
        assert st == 422, body
        os.kill(host, signal.SIGKILL)
        wait_for("host restarted", lambda: all(
            i["pid"] and i["pid"] != host and i["state"] == "deployed"
            for i in f.instances("one")))
        f.wait_status("one", "deployed")
        assert len(f.app_pids()) == 1, f.app_pids()
        f.json("DELETE", "/streams/deployments/one")
        assert not f.app_pids()
        st, _, body = f.request("POST", "/streams/deployments/one",
                                {"deployer.packaging": "single",
                                 "deployer.counter.count": "2"})
        assert st == 400, body


def test_cpu_placement():
    """deployer.*.cpus pins every thread of every instance."""
    with Flowd() as f:
        f.create("pinned", DEMO.replace("it-load", "pinned-load"))
        st, _, body = f.request("POST", "/streams/deployments/pinned",
                                {"deployer.*.cpus": "0-x"})
        assert st == 400 and b"CPU list" in body, body
        # A CPU this machine does not give flowd: refused at deploy time.
        st, _, body = f.request("POST", "/streams/deployments/pinned",
                                {"deployer.*.cpus": "1000"})
        assert st == 400 and b"CPU 1000 is not one" in body, body
        f.deploy("pinned", {"deployer.*.cpus": "0",
                            "deployer.counter.count": "2"})
        f.wait_status("pinned", "deployed")
        first = wait_for("counter", lambda: f.counter("pinned-load"))
        wait_for("counter rising", lambda: f.counter("pinned-load") > first)
        insts = f.instances("pinned")
        assert len(insts) == 4, insts
        for i in insts:
            tasks = os.listdir("/proc/%d/task" % i["pid"])
            # The app's loop and ZeroMQ's I/O and reaper threads.
            assert len(tasks) >= 3, (i, tasks)
            for t in tasks:
                with open("/proc/%d/task/%s/status" % (i["pid"], t)) as fh:
                    allowed = [ln.split()[1] for ln in fh
                               if ln.startswith("Cpus_allowed_list:")]
                assert allowed == ["0"], (i, t, allowed)


def tapped_events(f, target, n=3):
    """The first n events `flowctl tap target -n n` prints."""
    rc, out, err = flowctl(f, "tap", target, "-n", str(n))
    assert rc == 0, (rc, out, err)
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) == n, out
    return events


def single_taps(props):
    """A single-packaged stream gives each app but the sink a tap endpoint;
    a tap stream and flowctl tap see its events, and still do after flowd
    was killed and its apps adopted."""
    with Flowd() as f:
        f.create("sp", "load-sim --count=10000000 --rate=2000 | "
                 "account-events | counter --name=sp-load")
        f.create("spwatch", ":sp.account-events > counter --name=sp-tapped",
                 deploy=True)
        d = f.deploy("sp", dict(props, **{"deployer.packaging": "single"}))
        assert d["packaging"] == "single", d
        f.wait_status("sp", "deployed")
        f.wait_status("spwatch", "deployed")
        taps = {i["label"]: i["endpoints"]["tap"] for i in f.instances("sp")}
        assert taps["load-sim"] and taps["account-events"], taps
        assert taps["load-sim"] != taps["account-events"], taps
        assert taps["counter"] is None, taps
        scheme = "tcp://" if props else "ipc://"
        assert taps["account-events"].startswith(scheme), taps
        app = f.get("/runtime/apps/sp.account-events")
        assert app["instances"][0]["endpoints"]["tap"] == \
            taps["account-events"], app
        assert len(f.app_pids()) == 2, f.app_pids()  # the host and the tap's counter
        first = wait_for("tap counts", lambda: f.counter("sp-tapped"))
        wait_for("tap counter rising", lambda: f.counter("sp-tapped") > first)
        for e in tapped_events(f, "sp.account-events"):
            assert e["stream"] == "sp" and e["app"] == "account-events", e
            assert "state" in e["payload"], e
        for e in tapped_events(f, "sp.load-sim"):
            assert e["app"] == "load-sim" and "state" not in e["payload"], e

        # flowd killed: the host is adopted with the same tap endpoints.
        host = f.instances("sp")[0]["pid"]
        f.kill9()
        f.start()
        f.wait_status("sp", "deployed")
        f.wait_status("spwatch", "deployed")
        assert {i["pid"] for i in f.instances("sp")} == {host}
        after = {i["label"]: i["endpoints"]["tap"] for i in f.instances("sp")}
        assert after == taps, (taps, after)
        c = f.counter("sp-tapped")
        wait_for("tap counter rising after the restart",
                 lambda: f.counter("sp-tapped") > c)
        for e in tapped_events(f, "sp.account-events"):
            assert e["app"] == "account-events", e

        # The host restarted by flowd keeps them too.
        os.kill(host, signal.SIGKILL)
        wait_for("host restarted", lambda: all(
            i["pid"] and i["pid"] != host and i["state"] == "deployed"
            for i in f.instances("sp")))
        again = {i["label"]: i["endpoints"]["tap"] for i in f.instances("sp")}
        assert again == taps, (taps, again)
        c = f.counter("sp-tapped")
        wait_for("tap counter rising after the host restart",
                 lambda: f.counter("sp-tapped") > c)
        for s in ("spwatch", "sp"):
            f.json("DELETE", f"/streams/deployments/{s}")
        assert not f.app_pids(), f.app_pids()
        # The instances' directories stay (their files are the user's), but
        # no socket of theirs is left behind.
        assert not left_sockets(f), left_sockets(f)


def left_sockets(f):
    """The socket files under f's run directory but flowd's own control."""
    run_dir = os.path.join(f.data_dir, "run")
    out = []
    for d, _, names in os.walk(run_dir):
        for n in names:
            p = os.path.join(d, n)
            if p != os.path.join(run_dir, "control") and \
                    stat.S_ISSOCK(os.lstat(p).st_mode):
                out.append(os.path.relpath(p, run_dir))
    return out


def test_single_packaging_taps():
    single_taps({})


def test_single_packaging_taps_tcp():
    single_taps({"deployer.*.transport": "tcp"})


def test_tcp_restart_keeps_endpoints():
    """Apps on tcp:// are adopted with the ports they were started with
    (recorded in the store), so a tap still reaches them."""
    with Flowd() as f:
        f.create("tcpa", DEMO.replace("it-load", "tcpa-load"))
        f.create("tcpwatch", ":tcpa.account-events > counter --name=tcpa-tap",
                 deploy=True)
        f.deploy("tcpa", {"deployer.*.transport": "tcp"})
        f.wait_status("tcpa", "deployed")

        def endpoints():
            return {i["label"]: (i["pid"], i["endpoints"])
                    for i in f.instances("tcpa")}
        before = endpoints()
        assert before["account-events"][1]["tap"].startswith("tcp://"), before
        wait_for("tap counts", lambda: f.counter("tcpa-tap"))
        f.kill9()
        f.start()
        f.wait_status("tcpa", "deployed")
        f.wait_status("tcpwatch", "deployed")
        assert endpoints() == before, (before, endpoints())
        c = f.counter("tcpa-tap")
        wait_for("tap counter rising after the restart",
                 lambda: f.counter("tcpa-tap") > c)


def test_tcp_restart_keeps_groups():
    """A named destination's output groups on tcp:// are recorded too: an
    adopted producer and its adopted consumer stream still meet after a
    flowd restart, through the group the producer really bound."""
    with Flowd() as f:
        tcp = {"deployer.*.transport": "tcp"}
        f.create("tgcons", ":tgd > counter --name=tg-in")
        f.deploy("tgcons", tcp)
        f.create("tgprod", "load-sim --rate=1000 > :tgd")
        f.deploy("tgprod", tcp)
        f.wait_status("tgcons", "deployed")
        f.wait_status("tgprod", "deployed")
        wait_for("the consumer counts", lambda: f.counter("tg-in"))

        def groups():
            return [i["endpoints"]["output"] for i in f.instances("tgprod")]
        before = groups()
        assert before and before[0] and before[0][0].startswith("tcp://"), \
            before
        pids = sorted(f.app_pids())
        assert len(pids) == 2, pids
        f.kill9()
        f.start()
        f.wait_status("tgprod", "deployed")
        f.wait_status("tgcons", "deployed")
        assert groups() == before, (before, groups())
        assert sorted(f.app_pids()) == pids, (pids, f.app_pids())
        c = f.counter("tg-in")
        wait_for("the consumer counting after the restart",
                 lambda: f.counter("tg-in") > c)


def test_tcp_restart_dead_app():
    """An app on tcp:// that died while flowd was down is started again on
    the port it had, so its adopted consumer still reads it."""
    with Flowd() as f:
        f.create("tdead", DEMO.replace("it-load", "tdead-load"))
        f.deploy("tdead", {"deployer.*.transport": "tcp"})
        f.wait_status("tdead", "deployed")
        wait_for("counter", lambda: f.counter("tdead-load"))
        mid = [i for i in f.instances("tdead")
               if i["label"] == "account-events"][0]
        f.kill9()
        os.kill(mid["pid"], signal.SIGKILL)
        f.start()
        f.wait_status("tdead", "deployed")
        now = {i["label"]: i for i in f.instances("tdead")}
        assert now["account-events"]["pid"] != mid["pid"], now
        assert now["account-events"]["endpoints"] == mid["endpoints"], (
            mid, now)
        assert len(f.app_pids()) == 3, f.app_pids()
        c = f.counter("tdead-load")
        wait_for("the counter rising after the restart",
                 lambda: f.counter("tdead-load") > c)


def test_tcp_restart_port_taken():
    """When the port of an app that died while flowd was down has been
    taken meanwhile, the app is started on a new one and its adopted
    consumer is told to connect there."""
    with Flowd() as f:
        f.create("ttaken", DEMO.replace("it-load", "ttaken-load"))
        f.deploy("ttaken", {"deployer.*.transport": "tcp"})
        f.wait_status("ttaken", "deployed")
        wait_for("counter", lambda: f.counter("ttaken-load"))
        mid = [i for i in f.instances("ttaken")
               if i["label"] == "account-events"][0]
        port = int(mid["endpoints"]["output"][0].rsplit(":", 1)[1])
        f.kill9()
        os.kill(mid["pid"], signal.SIGKILL)
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            wait_for("the old port bound", lambda: try_bind(squatter, port))
            squatter.listen()
            f.start()
            f.wait_status("ttaken", "deployed")
            now = {i["label"]: i for i in f.instances("ttaken")}
            out = now["account-events"]["endpoints"]["output"]
            assert out != mid["endpoints"]["output"], (mid, now)
            c = f.counter("ttaken-load")
            wait_for("the counter rising after the restart",
                     lambda: f.counter("ttaken-load") > c)


def try_bind(sock, port):
    try:
        sock.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False


def test_destinations_and_taps():
    with Flowd() as f:
        # The consumer first: it gets the producer's endpoint later.
        f.create("consume", ":orders > counter --name=orders-in",
                 deploy=True)
        f.create("produce", "load-sim --rate=1000 > :orders", deploy=True)
        f.create("main", "load-sim --rate=1000 | account-events | "
                 "counter --name=main-load", deploy=True)
        f.create("watch", ":main.account-events > counter --name=tapped",
                 deploy=True)
        for s in ("consume", "produce", "main", "watch"):
            f.wait_status(s, "deployed")
        wait_for("destination delivers", lambda: f.counter("orders-in") > 0)
        wait_for("tap delivers", lambda: f.counter("tapped") > 0)
        d = f.get("/streams/definitions/watch")
        assert d["source"] == {"tap": "main.account-events"}, d
        assert f.get("/streams/definitions/consume")["source"] == {
            "destination": "orders", "group": "consume"}
        # The tapped stream still counts everything it produces.
        before = f.counter("main-load")
        wait_for("main rising", lambda: f.counter("main-load") > before)
        for s in ("watch", "main", "produce", "consume"):
            f.json("DELETE", f"/streams/deployments/{s}")
        assert not f.app_pids(), f.app_pids()
        # The instances' directories stay (their files are the user's), but
        # no socket of theirs is left behind.
        assert not left_sockets(f), left_sockets(f)


def test_destination_copies():
    """Every consumer stream of a named destination gets every event (its
    own output group), the instances within one stream share them, and a
    consumer stream undeployed mid-stream does not stall the producer."""
    with Flowd() as f:
        n = 3000
        f.create("copy-a", ":accounts > counter --name=copy-a")
        f.deploy("copy-a")
        f.create("copy-b", ":accounts > counter --name=copy-b")
        f.deploy("copy-b", {"deployer.counter.count": "2"})
        f.wait_status("copy-a", "deployed")
        f.wait_status("copy-b", "deployed")
        f.create("copy-src", f"load-sim --count={n} --rate=3000 --seed=3 "
                 "> :accounts", deploy=True)
        wait_for("both consumer streams counted everything",
                 lambda: f.counter("copy-a") >= n and
                 f.counter("copy-b") >= n, timeout=60, interval=0.2)
        wait_for("the source completed", lambda: all(
            i["state"] == "completed" for i in f.instances("copy-src")))
        # Two more report periods: nothing may be counted twice.
        time.sleep(2.5)
        assert f.counter("copy-a") == n, f.counter("copy-a")
        assert f.counter("copy-b") == n, f.counter("copy-b")
        ins = [i["in"] for i in f.instances("copy-b")]
        assert len(ins) == 2 and sum(ins) == n, ins
        src = f.instances("copy-src")[0]
        assert len(src["endpoints"]["output"]) == 2, src["endpoints"]

        # The producer first, then a consumer: the source waits for it.
        m = 4000
        f.create("late-src", f"load-sim --count={m} --rate=1000 > :orders",
                 deploy=True)
        f.create("late-a", ":orders > counter --name=late-a", deploy=True)
        wait_for("late-a counting", lambda: f.counter("late-a") > 0)
        # A second consumer that goes again while the events flow.
        f.create("late-b", ":orders > counter --name=late-b", deploy=True)
        wait_for("late-b counting", lambda: f.counter("late-b") > 0,
                 timeout=30, interval=0.05)
        f.json("DELETE", "/streams/deployments/late-b")
        wait_for("late-a counted everything",
                 lambda: f.counter("late-a") >= m, timeout=60, interval=0.2)
        wait_for("the late source completed", lambda: all(
            i["state"] == "completed" for i in f.instances("late-src")))
        time.sleep(2.5)
        assert f.counter("late-a") == m, f.counter("late-a")
        assert f.counter("late-b") < m, f.counter("late-b")
        for s in ("copy-a", "copy-b", "copy-src", "late-a", "late-src"):
            f.json("DELETE", f"/streams/deployments/{s}")
        assert not f.app_pids(), f.app_pids()
        assert not left_sockets(f), left_sockets(f)


def stored_groups(f):
    """The store's output_groups rows as (producer stream, group)."""
    db = sqlite3.connect(os.path.join(f.data_dir, "flow.db"))
    try:
        return sorted(set(db.execute(
            "SELECT stream, consumer FROM output_groups").fetchall()))
    finally:
        db.close()


def producer_groups(f, name):
    return [sorted(i["endpoints"]["outputGroups"]) for i in f.instances(name)]


def test_consumer_groups():
    """Consumer streams naming the same --group share one output group of
    the producer: each event goes to exactly one of them, while a stream
    without --group gets its own copy. The group lasts while one of its
    streams is deployed, across a flowd restart too."""
    with Flowd() as f:
        n = 3000
        f.create("grp-a", ":gd --group=g > counter --name=grp-a")
        f.create("grp-b", ":gd --group=g > counter --name=grp-b")
        f.create("grp-c", ":gd > counter --name=grp-c")
        for s in ("grp-a", "grp-b", "grp-c"):
            f.deploy(s)
            f.wait_status(s, "deployed")
        f.create("grp-src", f"load-sim --count={n} --rate=3000 --seed=5 "
                 "> :gd", deploy=True)
        wait_for("the group and the copy counted everything",
                 lambda: f.counter("grp-a") + f.counter("grp-b") >= n and
                 f.counter("grp-c") >= n, timeout=60, interval=0.2)
        wait_for("the source completed", lambda: all(
            i["state"] == "completed" for i in f.instances("grp-src")))
        # Two more report periods: nothing may be counted twice.
        time.sleep(2.5)
        a, b = f.counter("grp-a"), f.counter("grp-b")
        assert a + b == n and a > 0 and b > 0, (a, b)
        assert f.counter("grp-c") == n, f.counter("grp-c")
        assert producer_groups(f, "grp-src") == [["g", "grp-c"]], \
            f.instances("grp-src")
        d = f.get("/streams/definitions/grp-a")
        assert d["source"] == {"destination": "gd", "group": "g"}, d
        d = f.get("/streams/definitions/grp-c")
        assert d["source"] == {"destination": "gd", "group": "grp-c"}, d
        assert f.get("/runtime/apps/grp-b.counter")["group"] == "g"
        assert f.get("/runtime/apps/grp-src.load-sim")["group"] is None

        # A running producer: one stream of the group goes, the other
        # still reads; the last one takes the group with it.
        f.create("hgrp-a", ":hd --group=h > counter --name=hgrp-a",
                 deploy=True)
        f.create("hgrp-b", ":hd --group=h > counter --name=hgrp-b",
                 deploy=True)
        f.create("hgrp-src", "load-sim --rate=1000 > :hd", deploy=True)
        wait_for("both streams of the group counting",
                 lambda: f.counter("hgrp-a") and f.counter("hgrp-b"),
                 timeout=30)
        assert ("hgrp-src", "h") in stored_groups(f), stored_groups(f)
        f.kill9()
        f.start()
        f.wait_status("hgrp-src", "deployed")
        f.wait_status("hgrp-a", "deployed")
        f.wait_status("hgrp-b", "deployed")
        assert producer_groups(f, "hgrp-src") == [["h"]], \
            f.instances("hgrp-src")
        f.json("DELETE", "/streams/deployments/hgrp-b")
        assert producer_groups(f, "hgrp-src") == [["h"]], \
            f.instances("hgrp-src")
        assert ("hgrp-src", "h") in stored_groups(f), stored_groups(f)
        c = f.counter("hgrp-a")
        wait_for("the group's other stream still counting",
                 lambda: f.counter("hgrp-a") > c + 500, timeout=30)
        f.json("DELETE", "/streams/deployments/hgrp-a")
        assert producer_groups(f, "hgrp-src") == [[]], \
            f.instances("hgrp-src")
        assert ("hgrp-src", "h") not in stored_groups(f), stored_groups(f)

        # A group name is a stream name.
        st, _, body = f.request("POST", "/streams/definitions",
                                {"name": "bad-grp",
                                 "definition": ":gd --group=Bad_G > log"})
        assert st == 400, (st, body)
        assert "illegal consumer group name 'Bad_G'" in \
            json.loads(body)["errors"][0]["message"], body
        for s in ("grp-a", "grp-b", "grp-c", "grp-src", "hgrp-src"):
            f.json("DELETE", f"/streams/deployments/{s}")
        assert not f.app_pids(), f.app_pids()
        assert not stored_groups(f), stored_groups(f)


def test_clean_shutdown():
    """SIGTERM stops every app and flowd exits with status 0 having freed
    everything: a sanitizer build (which runs this test with its own flowd)
    reports leaks on stderr and exits non-zero."""
    with Flowd() as f:
        f.create("running", DEMO.replace("it-load", "sd-load"), deploy=True)
        f.create("idle", "time | log")
        f.create("tapping", ":running.account-events > log", deploy=True)
        f.wait_status("running", "deployed")
        f.wait_status("tapping", "deployed")
        f.json("POST",
               "/streams/deployments/scale/running/counter/instances/2",
               expect=202)
        # Three apps, a second counter and the tap's log.
        wait_for("five app processes", lambda: len(f.app_pids()) >= 5)
        assert f.app_pids()
        rc = f.terminate()
        log = f.read_log()
        assert rc == 0, f"flowd exit status {rc}; log: {log}"
        assert "Sanitizer" not in log and "runtime error" not in log, log
        assert not f.app_pids(), f.app_pids()


def test_ready_after_restore():
    """After a restart, GET /ready answers 503 until the restored streams
    have left deploying: at its first 200 the stream is deployed."""
    with Flowd() as f:
        f.create("back", DEMO.replace("it-load", "back-load"), deploy=True)
        f.create("idle", "time | log")
        f.wait_status("back", "deployed")
        assert f.terminate() == 0
        assert not f.app_pids()
        f.start()
        seen = []

        def ready():
            st, _, body = f.request("GET", "/ready")
            if st == 503:
                assert json.loads(body)["status"] == 503, body
                # Served while restoring: other reads answer meanwhile.
                assert f.request("GET", "/health")[0] == 200
            else:
                assert st == 200, (st, body)
            seen.append(st)
            return st == 200

        wait_for("flowd ready", ready, timeout=60)
        status = f.status("back")
        assert status == "deployed", (status, seen)
        assert len(f.app_pids()) == 3, f.app_pids()
        print(f"/ready answers before 200: {seen[:-1]}")


TESTS = {
    "lifecycle": test_lifecycle,
    "bad_requests": test_bad_requests,
    "scale_down_then_undeploy": test_scale_down_then_undeploy,
    "app_killed_is_restarted": test_app_killed_is_restarted,
    "crashing_app_fails": test_crashing_app_fails,
    "deterministic_count": test_deterministic_count,
    "promtool": test_promtool,
    "token_matrix": test_token_matrix,
    "flowd_restart_adopts_apps": test_flowd_restart_adopts_apps,
    "events_and_static": test_events_and_static,
    "single_packaging": test_single_packaging,
    "single_packaging_taps": test_single_packaging_taps,
    "single_packaging_taps_tcp": test_single_packaging_taps_tcp,
    "tcp_restart_keeps_endpoints": test_tcp_restart_keeps_endpoints,
    "tcp_restart_keeps_groups": test_tcp_restart_keeps_groups,
    "tcp_restart_dead_app": test_tcp_restart_dead_app,
    "tcp_restart_port_taken": test_tcp_restart_port_taken,
    "destinations_and_taps": test_destinations_and_taps,
    "cpu_placement": test_cpu_placement,
    "destination_copies": test_destination_copies,
    "consumer_groups": test_consumer_groups,
    "clean_shutdown": test_clean_shutdown,
    "ready_after_restore": test_ready_after_restore,
}

if __name__ == "__main__":
    run(TESTS)
