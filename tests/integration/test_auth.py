#!/usr/bin/python3
"""Authentication by default: flowd makes a token in its data directory on
the first start (mode 0600) and reuses it; --token and FLOW_TOKEN give one
instead; --auth=none runs without one, warning on stderr and in /about;
?access_token= counts only on /events; flowctl finds the token.

Run one test: test_auth.py NAME; all: test_auth.py.
"""

import os
import re
import stat
import subprocess
import tempfile
import urllib.error
import urllib.request

from flowd_harness import FLOWD, Flowd, run, wait_for

FLOWCTL = os.environ.get("FLOWCTL", "flowctl")


def start_fails(*args, env=None):
    """Runs a flowd that must refuse to start; returns (status, stderr)."""
    tmp = tempfile.mkdtemp(prefix="flowd-auth-")
    e = dict(os.environ)
    e.pop("FLOW_TOKEN", None)
    e.update(env or {})
    p = subprocess.run([FLOWD, "--port", "0", "--data-dir",
                        os.path.join(tmp, "data"), *args],
                       capture_output=True, text=True, env=e, timeout=30,
                       start_new_session=True)
    return p.returncode, p.stderr


def test_default_token_file():
    """The first start makes DATA/token: 64 hex digits, 0600, ours; no
    token is 401, a wrong one 401, the file's 200; a restart reuses it."""
    with Flowd() as f:
        st = os.lstat(f.token_file)
        assert stat.S_ISREG(st.st_mode), st
        assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
        assert st.st_uid == os.geteuid(), st
        token = f.read_token_file()
        assert re.fullmatch(r"[0-9a-f]{64}", token), token
        assert f.token == token
        for path in ("/streams/definitions", "/about", "/ready", "/metrics"):
            assert f.request("GET", path, token="")[0] == 401, path
            assert f.request("GET", path, token="0" * 64)[0] == 401, path
            assert f.request("GET", path)[0] == 200, path
        assert f.request("GET", "/health", token="")[0] == 200
        assert f.request("GET", "/", token="")[0] == 200
        sec = f.get("/about")["security"]
        assert sec == {"authenticationEnabled": True,
                       "authentication": "token", "tokenSource": "file",
                       "tokenFile": os.path.realpath(f.token_file)}, sec
        f.create("kept", "time | log")
        f.stop()
        f.start()
        assert f.read_token_file() == token
        assert f.token == token
        assert f.get("/streams/definitions/kept")["name"] == "kept"
        assert f.request("GET", "/streams/definitions", token="")[0] == 401
        # Two starts make two different tokens.
        with Flowd() as g:
            assert g.token != token and len(g.token) == 64


def test_token_file_checked():
    """A token file flowd cannot trust stops it with what to do."""
    with Flowd() as f:
        f.stop()
        os.chmod(f.token_file, 0o644)
        p = subprocess.run([FLOWD, "--port", "0", "--data-dir", f.data_dir],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 1, (p.returncode, p.stderr)
        assert "mode 0600" in p.stderr and "mode 0644" in p.stderr, p.stderr
        os.remove(f.token_file)
        os.symlink("/etc/hostname", f.token_file)
        p = subprocess.run([FLOWD, "--port", "0", "--data-dir", f.data_dir],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 1, (p.returncode, p.stderr)
        assert "symbolic link" in p.stderr, p.stderr
        os.remove(f.token_file)
        # Removed, a new one is made.
        f.token = None
        f.start()
        assert len(f.token) == 64 and f.get("/about")


def test_token_given():
    """--token and FLOW_TOKEN replace the file, which is then not made."""
    with Flowd(token="given-by-flag") as f:
        assert not os.path.exists(f.token_file)
        assert f.request("GET", "/about", token="given-by-flag")[0] == 200
        assert f.request("GET", "/about", token="")[0] == 401
        assert f.get("/about")["security"]["tokenSource"] == "--token"
    with Flowd(env={"FLOW_TOKEN": "given-by-env"}) as f:
        assert not os.path.exists(f.token_file)
        assert f.token == "given-by-env"
        assert f.get("/about")["security"]["tokenSource"] == "FLOW_TOKEN"
        assert f.request("GET", "/about", token="")[0] == 401
    rc, err = start_fails("--token=")
    assert rc == 2 and "--auth=none" in err, (rc, err)


def test_auth_none():
    """--auth=none is explicit, warned about at start and in /about."""
    with Flowd("--auth=none") as f:
        assert not os.path.exists(f.token_file)
        assert f.token is None
        for path in ("/streams/definitions", "/about", "/metrics"):
            assert f.request("GET", path, token="")[0] == 200, path
        f.create("open", "time | log")
        sec = f.get("/about")["security"]
        assert sec["authentication"] == "none", sec
        assert sec["authenticationEnabled"] is False, sec
        assert "every local user" in sec["warning"], sec
        log = wait_for("the warning", lambda: "warning" in f.read_log()
                       and f.read_log())
        assert "--auth=none" in log and "every local user" in log, log
    rc, err = start_fails("--auth=none", "--token=x")
    assert rc == 1 and "contradict" in err, (rc, err)
    rc, err = start_fails("--auth=none", env={"FLOW_TOKEN": "x"})
    assert rc == 1 and "FLOW_TOKEN" in err, (rc, err)
    rc, err = start_fails("--auth=maybe")
    assert rc == 2 and "token or none" in err, (rc, err)


def test_access_token_only_on_events():
    with Flowd() as f:
        req = urllib.request.Request(
            f"{f.base}/events?access_token={f.token}")
        with urllib.request.urlopen(req, timeout=30) as ev:
            assert ev.status == 200
            assert ev.headers["Content-Type"].startswith("text/event-stream")
            assert ev.readline()  # the first line of the stream
        for path in ("/events?access_token=wrong",
                     "/streams/definitions?access_token=" + f.token,
                     "/about?access_token=" + f.token,
                     "/streams/definitions?page=0&access_token=" + f.token):
            st, _, body = f.request("GET", path, token="")
            assert st == 401, (path, st, body)
        st, _, body = f.request(
            "GET", "/streams/definitions?access_token=" + f.token, token="")
        assert b"only on /events" in body, body
        # Beside a valid header it is refused too: no token in URLs.
        st, _, body = f.request(
            "GET", "/streams/definitions?access_token=" + f.token)
        assert st == 401, (st, body)
        st, _, body = f.request(
            "POST", "/streams/definitions?access_token=" + f.token,
            {"name": "x", "definition": "time | log"}, token="")
        assert st == 401, (st, body)
        assert f.request("GET", "/streams/definitions/x")[0] == 404


def flowctl(*args, env, cwd=None):
    e = {k: v for k, v in os.environ.items()
         if k not in ("FLOW_TOKEN", "FLOW_DATA_DIR", "FLOW_SERVER",
                      "XDG_CONFIG_HOME")}
    e.update(env)
    p = subprocess.run([FLOWCTL, *args], capture_output=True, text=True,
                       env=e, cwd=cwd, timeout=60)
    return p.returncode, p.stdout, p.stderr


def test_flowctl_finds_token():
    """flowctl on this host reads the token file of $FLOW_DATA_DIR (or of
    ./flow-data) when it is the user's; FLOW_TOKEN works too."""
    with Flowd() as f:
        home = os.path.join(f.tmp, "home")
        os.makedirs(home)
        base = {"FLOW_SERVER": f.base, "HOME": home}
        rc, out, err = flowctl("stream", "list", env=base, cwd=f.tmp)
        assert rc == 1 and "FLOW_DATA_DIR" in err, (rc, out, err)
        rc, out, err = flowctl("stream", "create", "bydir", "time | log",
                               env={**base, "FLOW_DATA_DIR": f.data_dir})
        assert rc == 0, (rc, out, err)
        rc, out, err = flowctl("stream", "list",
                               env={**base, "FLOW_TOKEN": f.token})
        assert rc == 0 and "bydir" in out, (rc, out, err)
        # The data directory is ./flow-data by default, as for flowd.
        cwd = os.path.join(f.tmp, "cwd")
        os.makedirs(cwd)
        os.symlink(f.data_dir, os.path.join(cwd, "flow-data"))
        rc, out, err = flowctl("stream", "list", env=base, cwd=cwd)
        assert rc == 0 and "bydir" in out, (rc, out, err)


TESTS = {
    "default_token_file": test_default_token_file,
    "token_file_checked": test_token_file_checked,
    "token_given": test_token_given,
    "auth_none": test_auth_none,
    "access_token_only_on_events": test_access_token_only_on_events,
    "flowctl_finds_token": test_flowctl_finds_token,
}

if __name__ == "__main__":
    run(TESTS)
