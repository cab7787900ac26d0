#!/usr/bin/python3
"""scripts/run.sh as a new user runs it, minus setup and build
(FLOW_SKIP_SETUP=1, the build of this test run): the URLs come once flowd
is ready, the dashboard URL logs in with flowd's token, the demo, the
accounts' web and worker roles and the orders saga are loaded and deployed
(and nothing else), an account made with the printed curl command reads
back through its HAL link, a taken port is an error that shows flowd's
message, and Ctrl-C stops flowd and every app.

Run one test: test_runsh.py NAME; all: test_runsh.py.
"""

import json
import os
import queue
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

from flowd_harness import FLOWD, FlowdAt, pids_with, run, wait_for

ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
RUN_SH = os.path.join(ROOT, "scripts", "run.sh")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stream_names(path):
    """The names a stream file defines (lines 'name = ...')."""
    with open(path) as f:
        return {m.group(1) for m in
                re.finditer(r"^([a-z][a-z0-9-]*)\s*=", f.read(), re.M)}


class RunSh:
    """scripts/run.sh in a session of its own, its output (stdout and
    stderr) collected line by line."""

    def __init__(self, port, data_dir, accounts_port=None):
        self.data_dir = data_dir
        env = {k: v for k, v in os.environ.items()
               if k not in ("FLOW_TOKEN", "FLOW_BIND")}
        env.update(FLOW_SKIP_SETUP="1", FLOW_PORT=str(port),
                   FLOW_DATA_DIR=data_dir,
                   FLOW_ACCOUNTS_PORT=str(accounts_port or free_port()),
                   FLOW_BUILD_DIR=os.path.dirname(os.path.dirname(
                       os.path.realpath(FLOWD))))
        self.proc = subprocess.Popen(
            ["bash", RUN_SH], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True, text=True)
        self.lines = []
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.q.put(line)
        self.q.put(None)

    def wait_line(self, pattern, timeout=120):
        """The first match of pattern in a line, or None once run.sh has
        ended (its output closed) without one."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line matching {pattern!r} in "
                                     f"{timeout} s: {self.output()}")
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                return None
            self.lines.append(line)
            m = re.search(pattern, line)
            if m:
                return m

    def output(self):
        return "".join(self.lines)

    def kill(self):
        """Kills run.sh's group, then flowd and the apps (a group of their
        own), found by the data directory on their command lines."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        for p in pids_with(self.data_dir):
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def test_run_sh():
    tmp = tempfile.mkdtemp(prefix="flow-runsh-")
    port = free_port()
    data = os.path.join(tmp, "first")
    first = RunSh(port, data)
    second = None
    try:
        m = first.wait_line(r"dashboard:\s+(\S+)")
        assert m, first.output()
        # The URLs come only once flowd is ready.
        url = m.group(1)
        m = re.fullmatch(rf"http://127\.0\.0\.1:{port}/#token=([0-9a-f]{{64}})",
                         url)
        assert m, url
        token = m.group(1)
        f = FlowdAt(f"http://127.0.0.1:{port}", token)
        st, _, body = f.request("GET", "/ready")
        assert st == 200, (st, body)
        # It is the token flowd made in its data directory.
        path = os.path.join(data, "token")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with open(path) as fh:
            assert fh.read().strip() == token
        assert f.request("GET", "/streams/definitions", token="")[0] == 401
        # The demo, the accounts' roles and the saga, and only they, are
        # in the store; the demo, the multi form of the accounts and the
        # saga are deployed.
        streams = os.path.join(ROOT, "streams")
        demo = stream_names(os.path.join(streams, "demo.flow"))
        accounts = stream_names(os.path.join(streams, "accounts.flow"))
        orders = stream_names(os.path.join(streams, "orders.flow"))
        examples = stream_names(os.path.join(streams, "examples.flow"))
        assert "accounts" in demo and len(examples) >= 10, (demo, examples)
        assert {"accounts-web", "accounts-single"} <= accounts, accounts
        assert {"orders", "inventory", "payment"} <= orders, orders
        defs = f.get("/streams/definitions?size=1000")
        names = {d["name"] for d in
                 defs["_embedded"]["streamDefinitionResourceList"]}
        assert names == demo | accounts | orders, names
        assert not names & examples, names & examples
        deployed = ({"accounts", "event-types"} | orders
                    | (accounts - {"accounts-single"}))
        for name in sorted(deployed):
            f.wait_status(name, "deployed", timeout=90)
        for name in sorted(names - deployed):
            assert f.get(f"/streams/deployments/{name}")["status"] \
                == "undeployed", name

        # The saga's region checkpoints: its counters commit (a cycle
        # closed by deploying its streams producers first once left every
        # checkpoint waiting for a barrier of an old epoch).
        def committed(name):
            st, _, body = f.request("GET", f"/metrics/counters/{name}")
            return st == 200 and json.loads(body)["value"] > 0
        for name in ("orders-started", "orders-completed", "account-load"):
            wait_for(f"{name} to commit", lambda n=name: committed(n),
                     timeout=90)

        # The curl command printed makes an account; its HAL self link
        # reads it back from the read model once the worker folded it.
        m = first.wait_line(r"curl -i -d '([^']*)'")
        assert m, first.output()
        body = m.group(1)
        m = first.wait_line(r"^\s+(http://\S+/v1/accounts)$")
        assert m, first.output()
        accounts_url = m.group(1)
        req = urllib.request.Request(
            accounts_url, data=body.encode(), method="POST",
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 201, r.status
            location = r.headers["Location"]
        assert re.fullmatch(r"/v1/accounts/\d+", location), location
        base = accounts_url[:-len("/v1/accounts")]

        def read_back():
            try:
                with urllib.request.urlopen(base + location, timeout=10) as r:
                    acct = json.load(r)
            except urllib.error.HTTPError as e:
                if e.code == 404:  # not in the read model yet
                    return None
                raise
            return acct if acct.get("version") == 1 else None
        acct = wait_for("the account in the read model", read_back,
                        timeout=60)
        assert acct["firstName"] == "Ada" and acct["status"] == "PENDING", acct
        assert acct["_links"]["self"]["href"].endswith(location), acct

        # A second run on the same port fails with flowd's error.
        second = RunSh(port, os.path.join(tmp, "second"))
        assert second.wait_line(r"dashboard:") is None, second.output()
        rc = second.proc.wait(timeout=60)
        out = second.output()
        assert rc != 0, (rc, out)
        assert f"cannot listen on 127.0.0.1 port {port}" in out, out
        assert "Address already in use" in out, out
        # The first one is still serving.
        assert f.request("GET", "/ready")[0] == 200

        # Ctrl-C (SIGINT to run.sh's process group) stops flowd and its
        # apps.
        apps = pids_with(data + "/run/")
        assert len(apps) >= 3, apps
        os.killpg(first.proc.pid, signal.SIGINT)
        rc = first.proc.wait(timeout=60)
        assert rc == 0, (rc, first.output())
        wait_for("flowd and its apps to be gone",
                 lambda: not pids_with(data), timeout=30)
    finally:
        first.kill()
        if second:
            second.kill()
        shutil.rmtree(tmp, ignore_errors=True)


TESTS = {
    "run_sh": test_run_sh,
}

if __name__ == "__main__":
    run(TESTS)
