"""Shared helpers of the flowctl integration tests.

Each test starts a real flowd on a free port (--port=0, the port read from
its first line) with a fresh data directory, and runs the real flowctl
against it. Every process a test starts is killed on the way out, even on
failure: flowd's process group, then any app process whose command line
names the test's temporary directory.
"""

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

FLOWCTL = None
FLOWD = None


def setup_paths(argv):
    """argv: [flowctl, flowd]. Returns the rest."""
    global FLOWCTL, FLOWD
    FLOWCTL = os.path.abspath(argv[0])
    FLOWD = os.path.abspath(argv[1])
    return argv[2:]


def free_port():
    """A port nothing listens on (bound then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def kill_tree_by_marker(marker):
    """SIGKILLs every process whose command line holds marker."""
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if marker.encode() in cmd:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


class Flowd:
    """A flowd process on a free port with its own data directory."""

    def __init__(self, token=None, extra=()):
        self.tmp = tempfile.mkdtemp(prefix="flowctl-test-")
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)
        self.data = os.path.join(self.tmp, "data")
        # token= starts flowd with --token; otherwise flowd makes its own
        # in the data directory, which flowctl finds there (FLOW_DATA_DIR)
        # and api() reads.
        self.given_token = token
        self.token = token
        args = [FLOWD, "--port=0", "--data-dir=" + self.data,
                "--stop-timeout=2000"] + list(extra)
        env = dict(os.environ)
        env.pop("FLOW_TOKEN", None)
        env.pop("FLOW_DATA_DIR", None)
        if token:
            args.append("--token=" + token)
        self.log = open(os.path.join(self.tmp, "flowd.log"), "wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=self.log, env=env,
                                     start_new_session=True)
        self.url = None
        try:
            self._wait_url()
            if not token:
                with open(os.path.join(self.data, "token")) as f:
                    self.token = f.read().strip()
            self._wait_ready()
        except Exception:
            self.stop()
            raise

    def _wait_url(self):
        deadline = time.monotonic() + 30
        buf = b""
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
                for line in buf.decode(errors="replace").splitlines():
                    if "listening on http://" in line:
                        url = line.split("listening on ", 1)[1].split()[0]
                        self.url = url.rstrip("/")
                        return
            if self.proc.poll() is not None:
                break
        raise RuntimeError("flowd did not start: %r\n%s" %
                           (buf, self.read_log()))

    def _wait_ready(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                req = urllib.request.Request(self.url + "/ready")
                if self.token:
                    req.add_header("Authorization", "Bearer " + self.token)
                with urllib.request.urlopen(req, timeout=5) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError("flowd never became ready\n" + self.read_log())

    def read_log(self):
        try:
            with open(os.path.join(self.tmp, "flowd.log"), "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def api(self, method, path, body=None):
        """A direct REST call (to set up or check state)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data,
                                     method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                text = r.read()
                return r.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text

    def env(self, **extra):
        """Environment for flowctl: this server, a private HOME."""
        env = dict(os.environ)
        for k in ("FLOW_SERVER", "FLOW_TOKEN", "NO_COLOR",
                  "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
            env.pop(k, None)
        env["HOME"] = self.home
        env["FLOW_SERVER"] = self.url
        env["TERM"] = "xterm"
        env.pop("FLOW_DATA_DIR", None)
        if self.given_token:
            env["FLOW_TOKEN"] = self.given_token
        else:
            env["FLOW_DATA_DIR"] = self.data
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def ctl(self, *args, input=None, timeout=120, **envx):
        """Runs flowctl; returns (exit code, stdout, stderr)."""
        p = subprocess.run([FLOWCTL] + list(args), input=input,
                           capture_output=True, timeout=timeout,
                           env=self.env(**envx), text=True)
        return p.returncode, p.stdout, p.stderr

    def stop(self):
        """Undeploys everything, stops flowd, kills what is left."""
        try:
            if self.url and self.proc.poll() is None:
                st, doc = self.api("GET", "/streams/definitions?size=1000")
                if st == 200:
                    for s in doc["_embedded"]["streamDefinitionResourceList"]:
                        self.api("DELETE",
                                 "/streams/deployments/" + s["name"])
        except Exception:
            pass
        try:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait(timeout=10)
        finally:
            kill_tree_by_marker(self.tmp)
            self.log.close()
            if self.proc.stdout:
                self.proc.stdout.close()
            shutil.rmtree(self.tmp, ignore_errors=True)


def wait_for(fn, timeout=30, what="condition"):
    """Polls fn until it returns a true value; fails after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what +
                         " (last: %r)" % (last,))


def main_unittest(argv):
    import unittest
    rest = setup_paths(argv[1:])
    unittest.main(argv=[argv[0]] + rest, verbosity=2)
