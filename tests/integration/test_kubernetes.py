#!/usr/bin/env python3
"""flowd --deployer=kubernetes against the test API server
(tests/kubernetes/fake-apiserver.mjs: HTTPS with a certificate made here,
a bearer token, every request body checked against the Kubernetes schema
with kubernetes-models, simulated pods). The code under test is the code
that talks to a real cluster: only the kubeconfig points elsewhere.

Run as: test_kubernetes.py NAME (see TESTS)."""
import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flowd_harness import Flowd, flowctl, run, wait_for  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "..", "kubernetes", "fake-apiserver.mjs")
NS = "flowtest"
STREAM = "ticks"
NAME2 = "ticks-with-a-name-of-the-longest-length-allowed1"  # 48
DEFINITION = "time --fixed-delay=1 | log"


class FakeApi:
    """The test API server on a free port, its certificate, and a
    kubeconfig naming it; stopped (and its files removed) on exit."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="k8s-it-")
        self.cert = os.path.join(self.tmp, "server.crt")
        key = os.path.join(self.tmp, "server.key")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
             "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out",
             self.cert], check=True, capture_output=True)
        self.token = base64.b64encode(os.urandom(18)).decode()
        self.log = open(os.path.join(self.tmp, "apiserver.log"), "wb")
        self.proc = subprocess.Popen(
            ["node", FAKE, f"--cert={self.cert}", f"--key={key}",
             f"--token={self.token}"],
            stdout=subprocess.PIPE, stderr=self.log, cwd=HERE)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("listening "):
            self.close()
            raise AssertionError(f"the test API server did not start: "
                                 f"{line!r}")
        self.port = int(line.split()[1])
        self.ctx = ssl.create_default_context(cafile=self.cert)
        with open(self.cert, "rb") as f:
            ca = base64.b64encode(f.read()).decode()
        self.kubeconfig = os.path.join(self.tmp, "kubeconfig")
        with open(self.kubeconfig, "w") as f:
            f.write(f"""apiVersion: v1
kind: Config
current-context: test
clusters:
- name: fake
  cluster:
    server: https://127.0.0.1:{self.port}
    certificate-authority-data: {ca}
users:
- name: flowd
  user:
    token: {self.token}
contexts:
- name: test
  context:
    cluster: fake
    user: flowd
    namespace: {NS}
""")

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"https://127.0.0.1:{self.port}{path}", data=data, method=method,
            headers={"Authorization": f"Bearer {self.token}",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
            return json.loads(r.read())

    def requests(self):
        return self.call("GET", "/_control/requests")

    def objects(self):
        return self.call("GET", "/_control/objects")

    def pods(self):
        return sorted((o for o in self.objects() if o["kind"] == "Pod"),
                      key=lambda o: o["name"])

    def violations(self):
        return self.call("GET", "/_control/violations")

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            try:
                with open(os.path.join(self.tmp, "apiserver.log")) as f:
                    sys.stderr.write("API server log:\n" + f.read()[-4000:])
            except OSError:
                pass
        self.close()


def kube_flowd(api, data_dir=None):
    return Flowd("--deployer=kubernetes", f"--kubeconfig={api.kubeconfig}",
                 "--image=flow:test", data_dir=data_dir)


def workloads(api):
    return [o for o in api.objects()
            if o["kind"] in ("Deployment", "StatefulSet")]


def applied(api):
    """The (path, query, content type) of every apply flowd sent."""
    return [(r["path"], r["query"], r["contentType"]) for r in api.requests()
            if r["method"] == "PATCH" and not r["path"].endswith("/scale")]


def undeploy(f, name=STREAM):
    """DELETE answers once the stream is undeployed (200), or 202."""
    status, _, body = f.request("DELETE", f"/streams/deployments/{name}")
    assert status in (200, 202), (status, body)


def deploy_and_wait(f, api, props=None, name=STREAM):
    f.create(name, DEFINITION)
    f.deploy(name, props)
    f.wait_status(name, "deployed", timeout=30)


def check_applied(api, manifests):
    """Every manifest was applied with server-side apply, by its name,
    and carries the labels flowd selects and deletes by."""
    reqs = applied(api)
    assert len(reqs) == len(manifests), (reqs, manifests)
    for m in manifests:
        assert any(r[0].endswith("/" + m["metadata"]["name"]) for r in reqs)
    for path, query, ctype in reqs:
        assert f"/namespaces/{NS}/" in path, path
        assert query == {"fieldManager": "flowd", "force": "true"}, query
        assert ctype == "application/apply-patch+yaml", ctype
    objs = {(o["kind"], o["name"]): o for o in api.objects()}
    for m in manifests:
        o = objs[(m["kind"], m["metadata"]["name"])]
        assert o["labels"]["app.kubernetes.io/managed-by"] == "flowd", o
        assert o["labels"]["flow/stream"] == STREAM, o


def conversation():
    """Deploy, status from pods, a crash loop, a node's pods deleted,
    scale, logs and undeploy, in one conversation."""
    with FakeApi() as api, kube_flowd(api) as f:
        # Another client's object in the namespace, which undeploy must
        # leave alone.
        api.call("POST", "/_control/create", {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "not-flowds", "namespace": NS,
                         "labels": {"flow/stream": STREAM}},
            "data": {"a": "b"}})
        deploy_and_wait(f, api)
        manifests = [{"kind": o["kind"], "metadata": {"name": o["name"]}}
                     for o in api.objects() if o["kind"] != "Pod" and
                     o["labels"].get("app.kubernetes.io/managed-by") ==
                     "flowd"]
        check_applied(api, manifests)
        # What was applied is what the manifests endpoint shows for the
        # deployed stream, its Secret holding the deployment's keys.
        shown = f.get(f"/streams/deployments/{STREAM}/manifests?platform="
                      f"kubernetes&namespace={NS}&image=flow:test")
        assert sorted((m["kind"], m["metadata"]["name"]) for m in shown) == \
            sorted((m["kind"], m["metadata"]["name"]) for m in manifests)
        secrets = [o for o in api.objects() if o["kind"] == "Secret"]
        assert len(secrets) == 1, secrets
        assert [m["data"] for m in shown if m["kind"] == "Secret"] == \
            [secrets[0]["data"]]
        # No checkpoint coordinator runs the pods: no guarantee, said so,
        # and Deployments for the unkeyed apps.
        d = f.get(f"/streams/deployments/{STREAM}")
        assert d["guarantee"] == "none", d
        assert [o["kind"] for o in workloads(api)] == ["Deployment"] * 2
        pods = api.pods()
        assert len(pods) == 2, pods
        assert {p["labels"]["flow/app"] for p in pods} == {"time", "log"}
        insts = f.instances(STREAM)
        assert [i["state"] for i in insts] == ["deployed"] * 2, insts

        # A crash-looping pod: failed, saying why.
        log_pod = next(p for p in pods if p["labels"]["flow/app"] == "log")
        api.call("POST", "/_control/crashloop",
                 {"namespace": NS, "pod": log_pod["name"]})
        f.wait_status(STREAM, "failed", timeout=20)
        d = f.get(f"/streams/definitions/{STREAM}")
        assert "CrashLoopBackOff" in d["statusDescription"], d

        # Its node's pods deleted: new pods, deployed again.
        node = log_pod["spec"]["nodeName"]
        gone = api.call("POST", "/_control/delete-node-pods",
                        {"node": node})["deleted"]
        assert log_pod["name"] in gone, gone
        f.wait_status(STREAM, "deployed", timeout=30)
        names = {p["name"] for p in api.pods()}
        assert len(names) == 2 and not names & set(gone), (names, gone)

        # Scale: the scale subresource patched, three pods of log.
        f.json("POST", f"/streams/deployments/scale/{STREAM}/log/instances/3",
               expect=202)
        scales = [r for r in api.requests() if r["path"].endswith("/scale")]
        assert len(scales) == 1 and scales[0]["method"] == "PATCH", scales
        assert scales[0]["contentType"] == "application/merge-patch+json"
        wl = next(o for o in workloads(api) if o["labels"]["flow/app"] ==
                  "log")
        wait_for("log scaled to 3", lambda: next(
            o for o in workloads(api) if o["name"] == wl["name"]
        )["spec"]["replicas"] == 3, timeout=20)
        wait_for("three log pods", lambda: len(
            [p for p in api.pods() if p["labels"]["flow/app"] == "log"]) == 3,
            timeout=20)
        f.wait_status(STREAM, "deployed", timeout=30)
        assert len(f.instances(STREAM)) == 4, f.instances(STREAM)

        # Logs come from the pods' log endpoint.
        def logs_from_pods():
            logs = f.get(f"/streams/logs/{STREAM}")["logs"]
            return len(logs) == 4 and all(
                "started on node-" in v for v in logs.values())
        wait_for("the pods' logs", logs_from_pods, timeout=20)
        log_reqs = [r for r in api.requests()
                    if r["path"].endswith("/log") and r["method"] == "GET"]
        assert log_reqs, "no request to the pod log endpoint"

        # Scale down: the last instance goes with its pod.
        f.json("POST", f"/streams/deployments/scale/{STREAM}/log/instances/1",
               expect=202)
        wait_for("one log pod", lambda: len(
            [p for p in api.pods() if p["labels"]["flow/app"] == "log"]) == 1,
            timeout=20)
        f.wait_status(STREAM, "deployed", timeout=30)
        insts = f.instances(STREAM)
        assert [(i["label"], i["index"]) for i in insts] == [
            ("time", 0), ("log", 0)], insts

        # Undeploy: exactly the objects applied are deleted, by name.
        before = {(o["kind"], o["name"]) for o in api.objects()
                  if o["kind"] != "Pod"}
        mine = {(m["kind"], m["metadata"]["name"]) for m in manifests}
        undeploy(f)
        wait_for("undeployed", lambda: f.status(STREAM) == "undeployed",
                 timeout=30)
        deletes = sorted(r["path"] for r in api.requests()
                         if r["method"] == "DELETE")
        assert len(deletes) == len(manifests), deletes
        for m in manifests:
            assert any(p.endswith("/" + m["metadata"]["name"])
                       for p in deletes), (m, deletes)
        after = {(o["kind"], o["name"]) for o in api.objects()}
        assert after == before - mine, (after, before, mine)
        assert ("ConfigMap", "not-flowds") in after
        assert api.pods() == [], api.pods()
        assert api.violations() == [], api.violations()


def restart_resumes():
    """A restarted flowd watches its stream again (and lists again after
    410 Gone), and its undeploy deletes what the first flowd applied. The
    stream's name is the longest allowed (its Kubernetes names and labels
    are shortened and hashed), and its keyed app is a StatefulSet."""
    with FakeApi() as api:
        f = kube_flowd(api)
        try:
            # A keyed consumer: a StatefulSet, pods NAME-0 and NAME-1.
            deploy_and_wait(f, api, {"app.log.partition-key": "k",
                                     "deployer.log.count": "2"}, name=NAME2)
            assert sorted((o["kind"], o["labels"]["flow/app"])
                          for o in workloads(api)) == [
                ("Deployment", "time"), ("StatefulSet", "log")], \
                workloads(api)
            labels = {o["labels"]["flow/stream"] for o in api.objects()}
            assert len(labels) == 1 and labels != {NAME2}, labels
            sts = next(o["name"] for o in workloads(api)
                       if o["kind"] == "StatefulSet")
            n_applied = len(applied(api))
            data_dir = f.data_dir
            assert f.terminate() == 0
        finally:
            f.stop()
        g = kube_flowd(api, data_dir=data_dir)
        with g:
            g.wait_status(NAME2, "deployed", timeout=30)
            # Nothing applied again: the objects are followed, not redone.
            assert len(applied(api)) == n_applied, applied(api)
            watches = [r for r in api.requests() if r["query"].get("watch")]
            assert len(watches) >= 2, watches
            # History compacted: the watch resumes from an old version,
            # hears 410 Gone and lists the pods again.
            lists = len([r for r in api.requests() if r["path"].endswith(
                "/pods") and not r["query"].get("watch")])
            api.call("POST", "/_control/compact", {})
            wait_for("pods listed again", lambda: len(
                [r for r in api.requests() if r["path"].endswith("/pods")
                 and not r["query"].get("watch")]) > lists, timeout=20)
            assert g.get(f"/streams/deployments/{NAME2}")["guarantee"] == \
                "none"
            insts = g.instances(NAME2)
            assert [(i["label"], i["index"], i["state"]) for i in insts] == [
                ("time", 0, "deployed"), ("log", 0, "deployed"),
                ("log", 1, "deployed")], insts
            api.call("POST", "/_control/crashloop",
                     {"namespace": NS, "pod": f"{sts}-1"})
            g.wait_status(NAME2, "failed", timeout=20)
            insts = g.instances(NAME2)
            assert [(i["label"], i["index"], i["state"]) for i in insts] == [
                ("time", 0, "deployed"), ("log", 0, "deployed"),
                ("log", 1, "failed")], insts
            undeploy(g, NAME2)
            wait_for("undeployed", lambda: g.status(NAME2) == "undeployed",
                     timeout=30)
            assert [o for o in api.objects()] == [], api.objects()
            assert api.violations() == [], api.violations()
        shutil.rmtree(f.tmp, ignore_errors=True)


def single_packaging():
    """deployer.packaging=single: one host Deployment and pod, whose state
    every app's instance shows and whose log is the first app's; undeploy
    leaves nothing."""
    with FakeApi() as api, kube_flowd(api) as f:
        deploy_and_wait(f, api, {"deployer.packaging": "single"})
        assert [(o["kind"], o["labels"]["flow/app"])
                for o in workloads(api)] == [("Deployment", "host")]
        assert [(i["label"], i["state"]) for i in f.instances(STREAM)] == [
            ("time", "deployed"), ("log", "deployed")]
        pods = api.pods()
        assert len(pods) == 1, pods
        wait_for("the host pod's log", lambda: "started on node-" in f.get(
            f"/streams/logs/{STREAM}")["logs"].get(f"{STREAM}.time-0", ""),
            timeout=20)
        api.call("POST", "/_control/crashloop",
                 {"namespace": NS, "pod": pods[0]["name"]})
        f.wait_status(STREAM, "failed", timeout=20)
        assert "CrashLoopBackOff" in f.get(
            f"/streams/definitions/{STREAM}")["statusDescription"]
        undeploy(f)
        wait_for("nothing left", lambda: api.objects() == [], timeout=30)
        assert api.violations() == [], api.violations()


def api_unreachable():
    """An API server that does not answer: the deploy fails with the
    reason in the stream's status, and undeploy still ends."""
    with FakeApi() as api:
        kc = os.path.join(api.tmp, "kubeconfig-dead")
        with open(api.kubeconfig) as f:
            text = f.read()
        # The test API server's port once it is stopped answers nothing.
        api.proc.terminate()
        api.proc.wait(10)
        with open(kc, "w") as out:
            out.write(text)
        with Flowd("--deployer=kubernetes", f"--kubeconfig={kc}") as f:
            f.create(STREAM, DEFINITION)
            f.deploy(STREAM)
            f.wait_status(STREAM, "failed", timeout=30)
            d = f.get(f"/streams/definitions/{STREAM}")
            assert "apply refused" in d["statusDescription"], d
            undeploy(f)
            wait_for("undeployed", lambda: f.status(STREAM) == "undeployed",
                     timeout=60)


def apiserver_checks():
    """The test API server itself: a body that breaks the schema is
    answered 422 and recorded (so an empty violation list means
    something), a missing token is 401, an unknown object 404, all as
    Status objects."""
    with FakeApi() as api:
        bad = {"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "bad", "namespace": NS},
               "spec": {"selector": {}, "template": {"spec": {
                   "containers": [{"name": 7}]}}}}
        path = f"/apis/apps/v1/namespaces/{NS}/deployments/bad"
        req = urllib.request.Request(
            f"https://127.0.0.1:{api.port}{path}?fieldManager=flowd",
            data=json.dumps(bad).encode(), method="PATCH",
            headers={"Authorization": f"Bearer {api.token}",
                     "Content-Type": "application/apply-patch+yaml"})
        try:
            urllib.request.urlopen(req, context=api.ctx, timeout=30)
            raise AssertionError("an invalid Deployment was accepted")
        except urllib.error.HTTPError as e:
            body = json.loads(e.read())
            assert e.code == 422 and body["kind"] == "Status", body
            assert body["reason"] == "Invalid", body
        v = api.violations()
        assert len(v) == 1 and "containers/0/name" in v[0]["message"], v
        for token, want in ((None, 401), (api.token, 404)):
            h = {"Authorization": f"Bearer {token}"} if token else {}
            req = urllib.request.Request(
                f"https://127.0.0.1:{api.port}{path}", headers=h)
            try:
                urllib.request.urlopen(req, context=api.ctx, timeout=30)
                raise AssertionError(f"GET {path} answered")
            except urllib.error.HTTPError as e:
                body = json.loads(e.read())
                assert e.code == want and body["code"] == want, body


def options():
    """The deployer's options: refused without --deployer=kubernetes, and
    a kubeconfig that cannot be used says why."""
    tmp = tempfile.mkdtemp(prefix="k8s-opt-")
    try:
        flowd = os.environ["FLOWD"]
        p = subprocess.run([flowd, "--namespace=x", f"--data-dir={tmp}/d"],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2 and "--deployer=kubernetes" in p.stderr, p
        bad = os.path.join(tmp, "kc")
        with open(bad, "w") as out:
            out.write("apiVersion: v1\nkind: Config\ncurrent-context: nope\n")
        p = subprocess.run([flowd, "--deployer=kubernetes",
                            f"--kubeconfig={bad}", "--port=0",
                            f"--data-dir={tmp}/d"],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 1 and "has no context 'nope'" in p.stderr, p
        env = dict(os.environ)
        env.pop("KUBERNETES_SERVICE_HOST", None)
        p = subprocess.run([flowd, "--deployer=kubernetes", "--port=0",
                            f"--data-dir={tmp}/d"], capture_output=True,
                           text=True, timeout=30, env=env)
        assert p.returncode == 1 and "not in a cluster" in p.stderr, p
        out = subprocess.run([flowd, "--help"], capture_output=True,
                             text=True, timeout=30).stdout
        assert "--deployer=NAME" in out and "--kubeconfig=PATH" in out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


TESTS = {
    "conversation": conversation,
    "restart_resumes": restart_resumes,
    "options": options,
    "apiserver_checks": apiserver_checks,
    "single_packaging": single_packaging,
    "api_unreachable": api_unreachable,
}

if __name__ == "__main__":
    run(TESTS)
