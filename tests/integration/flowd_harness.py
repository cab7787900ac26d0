"""A real flowd for integration tests: started on a free port (--port 0)
with a fresh data directory, driven over HTTP with urllib, and killed with
every process it started, even when a test fails.

flowd makes its token in <data_dir>/token on the first start (unless the
test passes token=, which becomes --token, or --auth=none); request()
sends that token, as flowctl and the dashboard would, unless a test passes
token= ("" for none).

flowd and its apps run in a process group of their own; teardown kills the
group, and also any app that outlived a flowd killed on purpose (adoption
tests), found by its data directory on the command line.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

FLOWD = os.environ.get("FLOWD", "flowd")
FLOWCTL = os.environ.get("FLOWCTL", "flowctl")


class HttpError(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


def wait_for(what, fn, timeout=20.0, interval=0.05):
    """Polls fn until it returns a true value; fails after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except (HttpError, OSError, ValueError, KeyError) as e:
            last = e
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def pids_with(text):
    """Pids of processes whose command line contains text."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{d}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state not in ("Z", "X"):
            out.append(int(d))
    return out


class Flowd:
    def __init__(self, *args, token=None, data_dir=None, env=None):
        self.tmp = tempfile.mkdtemp(prefix="flowd-it-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.args = list(args)
        self.given_token = token
        self.token = token
        self.env = env
        self.proc = None
        self.groups = []
        self.start()

    def start(self):
        env = dict(os.environ)
        env.pop("FLOW_TOKEN", None)
        env.pop("FLOW_DATA_DIR", None)
        if self.env:
            env.update(self.env)
        cmd = [FLOWD, "--port", "0", "--data-dir", self.data_dir]
        if self.given_token:
            cmd += ["--token", self.given_token]
        cmd += self.args
        self.log = open(os.path.join(self.tmp, "flowd.log"), "ab")
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self.log,
            start_new_session=True, env=env)
        self.groups.append(self.proc.pid)
        line = self.proc.stdout.readline().decode()
        m = re.search(r"http://[^:]+:(\d+)/", line)
        if not m:
            self.stop()
            raise AssertionError(f"flowd did not start: {line!r}; "
                                 f"log: {self.read_log()}")
        self.port = int(m.group(1))
        self.base = f"http://127.0.0.1:{self.port}"
        if not self.given_token:
            self.token = (self.env or {}).get("FLOW_TOKEN") or \
                self.read_token_file()

    @property
    def token_file(self):
        return os.path.join(self.data_dir, "token")

    def read_token_file(self):
        """The token flowd made in its data directory, or None."""
        try:
            with open(self.token_file) as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    def read_log(self):
        try:
            with open(os.path.join(self.tmp, "flowd.log"), "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def kill9(self):
        """Kills flowd alone (its apps survive, as after a crash)."""
        self.proc.kill()
        self.proc.wait()

    def app_pids(self):
        return pids_with(self.data_dir + "/run/")

    def terminate(self, timeout=30):
        """Sends flowd SIGTERM and returns its exit status (None when it
        did not exit within timeout; stop() then kills it)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        """Kills flowd and everything it started."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for g in self.groups:
            try:
                os.killpg(g, signal.SIGKILL)
            except OSError:
                pass
        for p in self.app_pids():
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        if self.proc:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            if self.proc.stdout:
                self.proc.stdout.close()
        self.log.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            sys.stderr.write("flowd log:\n" + self.read_log() + "\n")
        self.cleanup()

    # HTTP

    def request(self, method, path, body=None, headers=None, raw=None,
                content_type=None, token=None, timeout=30):
        h = dict(headers or {})
        data = None
        if raw is not None:
            data = raw
        elif body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        if content_type:
            h["Content-Type"] = content_type
        tok = token if token is not None else self.token
        if tok:
            h.setdefault("Authorization", f"Bearer {tok}")
        req = urllib.request.Request(self.base + path, data=data,
                                     method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def sse(self, path="/events", token=None, timeout=60):
        """Opens a server-sent event stream; returns the response, read
        it line by line and close it."""
        h = {"Accept": "text/event-stream"}
        tok = token if token is not None else self.token
        if tok:
            h["Authorization"] = f"Bearer {tok}"
        req = urllib.request.Request(self.base + path, headers=h)
        return urllib.request.urlopen(req, timeout=timeout)

    def json(self, method, path, body=None, expect=200, **kw):
        status, _, data = self.request(method, path, body, **kw)
        if status != expect:
            raise HttpError(status, data.decode(errors="replace"))
        return json.loads(data) if data else None

    def get(self, path, **kw):
        return self.json("GET", path, **kw)

    def status(self, name):
        return self.get(f"/streams/definitions/{name}")["status"]

    def create(self, name, definition, deploy=False):
        return self.json("POST", "/streams/definitions",
                         {"name": name, "definition": definition,
                          "deploy": deploy}, expect=201)

    def deploy(self, name, props=None):
        return self.json("POST", f"/streams/deployments/{name}",
                         props or {}, expect=202)

    def wait_status(self, name, want, timeout=20):
        return wait_for(f"stream {name} {want}",
                        lambda: self.status(name) == want, timeout)

    def instances(self, name):
        d = self.get(f"/streams/deployments/{name}")
        return [i for a in d["apps"] for i in a["instances"]]

    def counter(self, name):
        status, _, data = self.request("GET", f"/metrics/counters/{name}")
        if status == 404:
            return 0
        return json.loads(data)["value"]


class FlowdAt(Flowd):
    """A flowd started by someone else (a script under test) at base,
    driven with the same methods; it is neither started nor stopped here."""

    def __init__(self, base, token=None):
        self.base = base
        self.token = token

    def start(self):
        raise AssertionError("FlowdAt does not start flowd")

    def stop(self):
        pass

    def cleanup(self):
        pass


def flowctl(f, *args, timeout=60, env=None):
    """Runs the real flowctl against flowd f as its user would (the server
    from FLOW_SERVER, the token found in f's data directory); returns
    (status, stdout, stderr)."""
    e = dict(os.environ, FLOW_SERVER=f.base, FLOW_DATA_DIR=f.data_dir)
    e.pop("FLOW_TOKEN", None)
    if env:
        e.update(env)
    p = subprocess.run([FLOWCTL, *args], capture_output=True, text=True,
                       env=e, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


class FlowctlTap:
    """`flowctl tap NAME` against flowd f while open, as its user runs it:
    lines holds the lines it printed so far; it is stopped on exit."""

    def __init__(self, f, name):
        env = dict(os.environ, FLOW_SERVER=f.base, FLOW_DATA_DIR=f.data_dir)
        env.pop("FLOW_TOKEN", None)
        self.lines = []
        self.proc = subprocess.Popen([FLOWCTL, "tap", name],
                                     stdout=subprocess.PIPE, text=True,
                                     env=env)
        self.reader = threading.Thread(
            target=lambda: self.lines.extend(
                iter(self.proc.stdout.readline, "")), daemon=True)
        self.reader.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.reader.join(timeout=30)


def run(tests):
    """Runs the named tests (argv) or all; exit status 1 on a failure."""
    names = sys.argv[1:] or list(tests)
    failed = 0
    for n in names:
        t0 = time.monotonic()
        try:
            tests[n]()
        except Exception as e:  # noqa: BLE001 - report every failure
            failed += 1
            print(f"FAIL {n}: {e!r}", flush=True)
            import traceback
            traceback.print_exc()
        else:
            print(f"ok   {n} ({time.monotonic() - t0:.1f} s)", flush=True)
    sys.exit(1 if failed else 0)


class AppsDir:
    """A fresh directory flowd may be told to trust (--apps-dir) for apps
    a test registers, removed on exit. flowd refuses an executable that
    sits below a directory others may write, such as /tmp, so it is made
    under FLOW_IT_APPS_BASE (the build directory) instead."""

    def __init__(self):
        base = os.environ.get("FLOW_IT_APPS_BASE") or os.getcwd()
        self.path = tempfile.mkdtemp(prefix="apps-", dir=base)
        os.chmod(self.path, 0o755)

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
