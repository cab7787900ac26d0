#!/usr/bin/env python3
"""The Kubernetes manifests of GET /streams/deployments/{name}/manifests
and `flowctl stream manifests`, through a real flowd: every stream of
streams/*.flow, with no properties, with resources and counts, without a
guarantee and in single packaging, validates against the Kubernetes API
schema (tests/kubernetes/validate.mjs, kubernetes-models); the objects
say what the properties ask for; the YAML flowctl prints is the JSON the
server gives; bad requests are refused.

Run as: test_k8s_manifests.py NAME (see TESTS)."""

import glob
import json
import os
import re
import base64
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse

from flowd_harness import Flowd, flowctl, run
from test_checkpoint_apps import modules_dir

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STREAMS = os.path.join(REPO, "streams")
VALIDATE = os.path.join(REPO, "tests", "kubernetes", "validate.mjs")
NODE = shutil.which("node")


def stream_names():
    """The names the stream files define (NAME = ... at a line's start)."""
    names = []
    for path in sorted(glob.glob(os.path.join(STREAMS, "*.flow"))):
        with open(path) as f:
            for line in f:
                m = re.match(r"([A-Za-z_][A-Za-z0-9_-]*)\s*=", line)
                if m:
                    names.append(m.group(1))
    assert names, "no stream in streams/*.flow"
    return names


def manifests(f, name, props=None, expect=200, **query):
    q = dict(query)
    q.setdefault("platform", "kubernetes")
    if props is not None:
        q["properties"] = json.dumps(props)
    path = (f"/streams/deployments/{urllib.parse.quote(name)}/manifests?"
            + urllib.parse.urlencode(q))
    return f.json("GET", path, expect=expect)


def validate(files):
    """Runs the validator; returns the number of objects it passed."""
    assert NODE, "node is not installed"
    p = subprocess.run([NODE, VALIDATE, *files], capture_output=True,
                       text=True, cwd=REPO, timeout=300)
    assert p.returncode == 0, f"invalid manifests:\n{p.stdout}\n{p.stderr}"
    return sum(1 for line in p.stdout.splitlines() if line.startswith("ok "))


def workloads(objs):
    return {o["metadata"]["annotations"]["flow/app-label"]: o for o in objs
            if o["kind"] in ("Deployment", "StatefulSet")}


def container(w):
    return w["spec"]["template"]["spec"]["containers"][0]


def arg(w, prefix):
    found = [a for a in container(w)["args"] if a.startswith(prefix)]
    return found[0][len(prefix):] if found else None


def every_stream_validates():
    names = stream_names()
    variants = {
        "plain": None,
        "resources": {"deployer.*.memory": "512m", "deployer.*.cpu": "500m",
                      "deployer.*.disk": "2g"},
        "unguaranteed": {"flow.guarantee": "none", "deployer.*.count": "2"},
        "single": {"deployer.packaging": "single"},
    }
    tmp = tempfile.mkdtemp(prefix="k8s-manifests-")
    try:
        with Flowd("--load", STREAMS) as f:
            listed = f.get("/streams/definitions?size=1000")
            got = sorted(s["name"] for s in
                         listed["_embedded"]["streamDefinitionResourceList"])
            assert got == sorted(names), (got, names)
            files, total = [], 0
            hosted_apart = {
                d["name"] for d in
                listed["_embedded"]["streamDefinitionResourceList"]
                if re.search(r"(^|[|>]\s*)function\s", d["dslText"])}
            assert "account-functions" in hosted_apart, hosted_apart
            for name in names:
                for v, props in variants.items():
                    if v == "single" and name in hosted_apart:
                        # flow-host loads no function library: such a
                        # stream is refused single packaging, on
                        # Kubernetes as locally.
                        err = manifests(f, name, props, expect=422)
                        assert "cannot load function libraries" in \
                            err["message"], err
                        continue
                    objs = manifests(f, name, props)
                    n_apps = len(workloads(objs))
                    if v == "single":
                        assert [o["kind"] for o in objs] == \
                            ["Secret", "Service", "Deployment"], objs
                    else:
                        assert objs[0]["kind"] == "Secret"
                        assert len(objs) == 1 + 2 * n_apps, len(objs)
                    total += len(objs)
                    path = os.path.join(tmp, f"{name}.{v}.json")
                    with open(path, "w") as out:
                        json.dump(objs, out)
                    files.append(path)
            assert validate(files) == total, total
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def objects_follow_the_properties():
    with Flowd("--load", STREAMS) as f:
        # The default guarantee (exactly-once): every app keeps its
        # identity, a StatefulSet behind a headless Service.
        objs = manifests(f, "labelled", {"deployer.counter.memory": "2g",
                                         "deployer.*.cpu": "250m",
                                         "deployer.again.count": "3"})
        w = workloads(objs)
        assert sorted(w) == ["again", "counter", "events", "load-sim"]
        assert {x["kind"] for x in w.values()} == {"StatefulSet"}
        res = container(w["counter"])["resources"]
        assert res == {"requests": {"memory": "2048Mi", "cpu": "250m"},
                       "limits": {"memory": "2048Mi"}}, res
        assert container(w["events"])["resources"] == \
            {"requests": {"cpu": "250m"}}
        assert w["again"]["spec"]["replicas"] == 3
        # One lane per pod of the next app, and the tap stream of
        # labelled.events as one more output group.
        assert arg(w["events"], "--flow.output=") == (
            ">tcp://labelled-again-0.labelled-again.default.svc:7000|"
            ">tcp://labelled-again-1.labelled-again.default.svc:7000|"
            ">tcp://labelled-again-2.labelled-again.default.svc:7000;"
            ">tcp://tapped-counter-0.tapped-counter.default.svc:7000"), \
            arg(w["events"], "--flow.output=")
        assert arg(w["counter"], "--flow.upstreams=") == "3"
        assert arg(w["counter"], "--flow.input=") == "@tcp://0.0.0.0:7000"
        assert arg(w["counter"], "--flow.instance=") == "$(FLOW_INSTANCE)"
        svc = [o for o in objs if o["kind"] == "Service"
               and o["metadata"]["name"] == "labelled-counter"][0]
        assert svc["spec"]["clusterIP"] == "None"
        assert [p["name"] for p in svc["spec"]["ports"]] == \
            ["input", "errors"]
        probe = container(w["counter"])["readinessProbe"]
        assert probe["tcpSocket"] == {"port": 7002}, probe

        # Without a guarantee: stateless apps are Deployments, the keyed
        # one a StatefulSet fed by key through one lane per pod.
        objs = manifests(f, "labelled", {"flow.guarantee": "none",
                                         "deployer.counter.count": "2",
                                         "app.counter.partition-key":
                                         "account"},
                         namespace="flow", image="registry.example/flow:1")
        w = workloads(objs)
        kinds = {k: x["kind"] for k, x in w.items()}
        assert kinds == {"load-sim": "Deployment", "events": "Deployment",
                         "again": "Deployment",
                         "counter": "StatefulSet"}, kinds
        assert arg(w["again"], "--flow.output=") == (
            ">tcp://labelled-counter-0.labelled-counter.flow.svc:7000|"
            ">tcp://labelled-counter-1.labelled-counter.flow.svc:7000")
        assert arg(w["again"], "--flow.partition-key=") == "account"
        assert arg(w["events"], "--flow.output=").startswith(
            ">tcp://labelled-again.flow.svc:7000;")
        assert arg(w["load-sim"], "--flow.control=") == \
            "tcp://flowd.flow.svc:9394"
        assert arg(w["load-sim"], "--flow.guarantee=") is None
        assert container(w["counter"])["image"] == "registry.example/flow:1"
        assert {o["metadata"]["namespace"] for o in objs} == {"flow"}
        assert container(w["load-sim"])["command"] == \
            ["/usr/libexec/flow/flow-load-sim"]

        # Single packaging: flow-host runs both apps, with a tap and an
        # error output each on ports of their own.
        objs = manifests(f, "ticks", {"deployer.packaging": "single"})
        host = objs[2]
        assert host["metadata"]["name"] == "ticks-host"
        c = container(host)
        assert c["command"] == ["/usr/libexec/flow/flow-host"]
        args = c["args"]
        assert args[0] == "time" and args.count("|") == 1
        assert args[args.index("|") + 1] == "log"
        assert [p["name"] for p in c["ports"]] == ["tap-0", "err-0", "err-1"]
        assert "--flow.error-output=@tcp://0.0.0.0:7201" in args
        assert not any(a.startswith("--flow.guarantee=") for a in args)
        assert not any(a.startswith("--flow.producer-id=") for a in args)

        # A destination's producer connects to every consumer group of
        # the streams that read it (consumer reads as group "loggers").
        w = workloads(manifests(f, "producer"))
        assert arg(w["account-events"], "--flow.output=") == (
            ">tcp://bridged-bridge-0.bridged-bridge.default.svc:7000;"
            ">tcp://consumer-log-0.consumer-log.default.svc:7000")


def yaml_is_the_json():
    assert NODE, "node is not installed"
    with Flowd("--load", STREAMS) as f:
        rc, out, err = flowctl(f, "stream", "manifests", "quoted",
                               "--properties", "deployer.log.memory=64m",
                               "--namespace", "ns1")
        assert rc == 0, err
        assert out.startswith("---\n"), out[:40]
        conv = subprocess.run(
            [NODE, "--input-type=module", "-e",
             "import {parseAllDocuments} from 'yaml';"
             "import {readFileSync} from 'node:fs';"
             "const t = readFileSync(0, 'utf8');"
             "process.stdout.write(JSON.stringify("
             "parseAllDocuments(t).map((d) => d.toJS())));"],
            input=out, capture_output=True, text=True, cwd=REPO, timeout=60)
        assert conv.returncode == 0, conv.stderr
        from_yaml = json.loads(conv.stdout)
        from_rest = manifests(f, "quoted", {"deployer.log.memory": "64m"},
                              namespace="ns1")

        # A stream that is not deployed gets a new key pair each time.
        def keyless(objs):
            for o in objs:
                o.get("data", {}).pop("keys", None)
                tm = o.get("spec", {}).get("template", {}).get("metadata")
                if tm:
                    tm["annotations"].pop("flow/keys-hash")
            return objs
        assert keyless(from_yaml) == keyless(from_rest)
        w = workloads(from_rest)
        # Quotes, '|' and '>' in options survive YAML.
        assert arg(w["log"], "--name=") == "it's | quoted"
        assert arg(w["log"], "--expression=") == "payload > '0'"
        assert container(w["log"])["resources"]["limits"] == \
            {"memory": "64Mi"}

        rc, out, err = flowctl(f, "-o", "json", "stream", "manifests",
                               "quoted")
        assert rc == 0, err
        doc = json.loads(out)
        assert doc["kind"] == "List" and doc["apiVersion"] == "v1"
        assert [o["kind"] for o in doc["items"]] == \
            [o["kind"] for o in from_rest]

        rc, out, err = flowctl(f, "-o", "yaml", "stream", "list")
        assert rc == 2 and "stream manifests" in err, (rc, err)
        rc, out, err = flowctl(f, "stream", "manifests", "nope")
        assert rc != 0 and "no stream named 'nope'" in err, (rc, err)


def refused():
    with Flowd("--load", STREAMS) as f:
        r = manifests(f, "ticks", expect=400, platform="local")
        assert "the one platform with manifests is kubernetes" in \
            r["message"], r
        r = manifests(f, "nope", expect=404)
        assert r["code"] == "ENOTFOUND"
        r = manifests(f, "ticks", {"deployer.log.memory": "lots"},
                      expect=400)
        assert "'deployer.log.memory' must be mebibytes" in r["message"], r
        r = manifests(f, "ticks", {"deployer.log.cpu": "fast"}, expect=400)
        assert "millicores" in r["message"], r
        r = manifests(f, "ticks", {"deployer.nosuch.count": "2"},
                      expect=400)
        assert r["code"] == "EPROPS", r
        status, _, data = f.request(
            "GET", "/streams/deployments/ticks/manifests?properties=%5B1%5D")
        assert status == 400 and b"JSON object" in data, (status, data)
        r = manifests(f, "ticks", expect=400, namespace="Not_A_Name")
        assert "namespace" in r["message"], r
        r = manifests(f, "labelled", {"deployer.packaging": "single",
                                      "deployer.counter.count": "2"},
                      expect=422)
        assert "drop the count of 'counter'" in r["message"], r


def deployed_stream_uses_its_properties():
    with Flowd("--load", STREAMS) as f:
        f.deploy("ticks", {"deployer.log.memory": "256m",
                           "flow.guarantee": "none"})
        f.wait_status("ticks", "deployed", timeout=60)
        first = manifests(f, "ticks")
        second = manifests(f, "ticks")
        # The deployment's own keys: the same at every request.
        assert first[0]["data"] == second[0]["data"]
        w = workloads(first)
        assert w["log"]["kind"] == "Deployment"
        assert container(w["log"])["resources"]["limits"] == \
            {"memory": "256Mi"}
        # Given properties win over the stored ones.
        w = workloads(manifests(f, "ticks", {"deployer.log.memory": "1g"}))
        assert container(w["log"])["resources"]["limits"] == \
            {"memory": "1024Mi"}
        f.json("DELETE", "/streams/deployments/ticks")
        f.wait_status("ticks", "undeployed", timeout=60)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def args_start_the_apps():
    """Each container's command line, as the pod would run it (the keys
    file the init container copies, the downward API's instance number,
    the pod's directories and ports here), is taken by the real app: it
    neither refuses an option nor exits while it waits for its peers and
    for flowd, whose Service names do not resolve here."""
    tmp = tempfile.mkdtemp(prefix="k8s-pod-")
    procs = []
    try:
        with Flowd("--load", STREAMS) as f:
            cases = [("labelled", None), ("producer", None),
                     ("consumer", {"flow.guarantee": "none"}),
                     ("ticks", {"deployer.packaging": "single"})]
            for name, props in cases:
                objs = manifests(f, name, props)
                keys = base64.b64decode(objs[0]["data"]["keys"])
                for w in objs[2::2]:
                    c = container(w)
                    pod = os.path.join(tmp, w["metadata"]["name"])
                    os.makedirs(os.path.join(pod, "instance"))
                    kf = os.path.join(pod, "keys")
                    with open(os.open(kf, os.O_WRONLY | os.O_CREAT, 0o600),
                              "wb") as out:
                        out.write(keys)
                    ports = {str(p["containerPort"]): str(free_port())
                             for p in c["ports"]}
                    args = []
                    for a in c["args"]:
                        a = a.replace("$(FLOW_INSTANCE)", "0")
                        a = a.replace("/run/flow/keys/keys", kf)
                        a = a.replace("/var/lib/flow", pod)
                        for k, v in ports.items():
                            a = a.replace(f"@tcp://0.0.0.0:{k}",
                                          f"@tcp://127.0.0.1:{v}")
                        args.append(a)
                    prog = os.path.join(modules_dir(),
                                        os.path.basename(c["command"][0]))
                    log = open(os.path.join(pod, "stderr"), "w+b")
                    p = subprocess.Popen([prog, *args], stdout=log,
                                         stderr=log, start_new_session=True)
                    procs.append((w["metadata"]["name"], p, log))
            # An app refuses a bad option at once, with status 2: give
            # each time to do so, and none may have exited.
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                if any(p.poll() is not None for _, p, _ in procs):
                    break
                time.sleep(0.1)
            for name, p, log in procs:
                if p.poll() is not None:
                    log.seek(0)
                    raise AssertionError(
                        f"{name} exited with {p.returncode}: "
                        f"{log.read().decode(errors='replace')}")
            assert len(procs) == 4 + 2 + 1 + 1, len(procs)
    finally:
        for _, p, log in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            log.close()
        shutil.rmtree(tmp, ignore_errors=True)


TESTS = {
    "args_start_the_apps": args_start_the_apps,
    "every_stream_validates": every_stream_validates,
    "objects_follow_the_properties": objects_follow_the_properties,
    "yaml_is_the_json": yaml_is_the_json,
    "refused": refused,
    "deployed_stream_uses_its_properties":
        deployed_stream_uses_its_properties,
}

if __name__ == "__main__":
    run(TESTS)
