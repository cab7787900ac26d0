#!/usr/bin/python3
"""Integration tests of app registration and of deployment-property
checks: which executables flowd agrees to run (owner, modes, the
directories above them, --apps-dir), how it runs their --describe
(timeout, stdin, environment, limits), and deployment properties whose
values an app would refuse.

Run one test: test_registry.py NAME; all: test_registry.py.
"""

import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time

from flowd_harness import AppsDir, Flowd, flowctl, pids_with, run, wait_for

BUILD_MODULES = os.path.join(os.path.dirname(os.path.dirname(
    os.environ.get("FLOWD", "/nonexistent/server/flowd"))), "modules")


def describe_json(name):
    return ('{"name": "%s", "role": "sink", "description": "a test app", '
            '"options": []}' % name)


def write_app(d, name, describe_body="", mode=0o755):
    """A sink named name whose --describe first runs describe_body (sh),
    then leaves a mark in ran-NAME and prints its description."""
    path = os.path.join(d, name)
    mark = os.path.join(d, f"ran-{name}")
    with open(path, "w") as fh:
        fh.write("#!/bin/sh\n"
                 "if [ \"$1\" = --describe ]; then\n"
                 f"  {describe_body or ':'}\n"
                 f"  echo yes > '{mark}'\n"
                 f"  echo '{describe_json(name)}'\n"
                 "  exit 0\n"
                 "fi\n"
                 "while :; do sleep 1; done\n")
    os.chmod(path, mode)
    return path, mark


def refused(f, name, uri, status, *needles):
    st, _, body = f.request("POST", f"/apps/sink/{name}", {"uri": uri})
    text = body.decode()
    assert st == status, (st, text)
    for n in needles:
        assert n in text, (n, text)
    st, _, _ = f.request("GET", f"/apps/sink/{name}")
    assert st == 404, st
    return text


def test_world_writable_dir_refused():
    """An executable in a directory any user may write is never run."""
    d = tempfile.mkdtemp(prefix="flowd-ww-")
    try:
        os.chmod(d, 0o777)
        path, mark = write_app(d, "evil")
        with Flowd("--apps-dir", d) as f:
            refused(f, "evil", path, 403,
                    f"{path}: directory {d} is writable by others")
            assert not os.path.exists(mark), "flowd ran the app"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_group_writable_file_refused():
    with AppsDir() as d, Flowd("--apps-dir", d) as f:
        path, mark = write_app(d, "grp", mode=0o775)
        refused(f, "grp", path, 403,
                f"{path}: the file is writable by group")
        assert not os.path.exists(mark), "flowd ran the app"
        # The same file, no longer group-writable, is accepted.
        os.chmod(path, 0o755)
        r = f.json("POST", "/apps/sink/grp", {"uri": path}, expect=201)
        assert r["uri"] == path and r["builtin"] is False, r
        assert os.path.exists(mark)


def test_outside_apps_dir_refused():
    """A safe executable outside every allowed directory is refused, and
    the message names the allowed ones."""
    with AppsDir() as allowed, AppsDir() as other, \
            Flowd("--apps-dir", allowed) as f:
        path, mark = write_app(other, "elsewhere")
        text = refused(f, "elsewhere", path, 403,
                       f"{path}: not under an allowed app directory",
                       allowed, "--apps-dir")
        assert other not in text.replace(path, ""), text
        assert not os.path.exists(mark), "flowd ran the app"
        # Without --apps-dir only the built-in apps' directory is allowed.
    with AppsDir() as d, Flowd() as f:
        path, mark = write_app(d, "nodir")
        refused(f, "nodir", path, 403, "not under an allowed app directory",
                os.path.realpath(BUILD_MODULES))
        assert not os.path.exists(mark)


def test_symlink_cannot_escape():
    """A symlink inside an allowed directory is judged by what it points
    at."""
    d = tempfile.mkdtemp(prefix="flowd-ww-")
    try:
        os.chmod(d, 0o777)
        target, mark = write_app(d, "escape")
        with AppsDir() as allowed, Flowd("--apps-dir", allowed) as f:
            link = os.path.join(allowed, "escape")
            os.symlink(target, link)
            refused(f, "escape", link, 403,
                    f"{target}: directory {d} is writable by others")
            assert not os.path.exists(mark), "flowd ran the app"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_allowed_dir_registers_and_deploys():
    """A copy of a built-in app in an allowed directory replaces it and
    is what the deployer runs."""
    with AppsDir() as d, Flowd("--apps-dir", d) as f:
        path = os.path.join(d, "flow-counter")
        shutil.copy(os.path.join(BUILD_MODULES, "flow-counter"), path)
        os.chmod(path, 0o755)
        r = f.json("POST", "/apps/sink/counter",
                   {"uri": path, "force": True}, expect=201)
        assert r["uri"] == path and r["builtin"] is False, r
        assert f.get("/apps/sink/counter")["uri"] == path
        f.create("reg", "time | counter --name=reg-it")
        f.deploy("reg")
        f.wait_status("reg", "deployed", timeout=30)
        wait_for("reg-it counts", lambda: f.counter("reg-it") > 0)
        inst = [i for i in f.instances("reg") if i["label"] == "counter"]
        assert os.readlink(f"/proc/{inst[0]['pid']}/exe") == path, inst


def test_file_uri():
    """file:///PATH is the path; the registration shows the path."""
    with AppsDir() as d, Flowd("--apps-dir", d) as f:
        path, mark = write_app(d, "fileuri")
        r = f.json("POST", "/apps/sink/fileuri", {"uri": "file://" + path},
                   expect=201)
        assert r["uri"] == path, r
        assert os.path.exists(mark)
        r = f.json("POST", "/apps/sink/fileuri",
                   {"uri": "file://localhost" + path, "force": True},
                   expect=201)
        assert r["uri"] == path, r
        refused(f, "other", "file://example.org" + path, 400, "another host")


def test_changed_after_registration():
    """An app that no longer passes the rules is neither deployed nor
    read back from the store at the next start."""
    with AppsDir() as d:
        data = os.path.join(d, "data")
        path, _ = write_app(d, "changed")
        with Flowd("--apps-dir", d, data_dir=data) as f:
            f.json("POST", "/apps/sink/changed", {"uri": path}, expect=201)
            f.create("chg", "time | changed")
            os.chmod(path, 0o777)
            st, _, body = f.request("POST", "/streams/deployments/chg", {})
            assert st == 422, (st, body)
            assert (f"app 'changed' is not run: {path}: the file is "
                    "writable by others") in body.decode(), body
            assert f.status("chg") == "undeployed"
            assert not pids_with(path)
        with Flowd("--apps-dir", d, data_dir=data) as f:
            st, _, _ = f.request("GET", "/apps/sink/changed")
            assert st == 404, st
            assert (f"registered app sink/changed skipped: {path}: the "
                    "file is writable by others") in f.read_log()


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_describe_hang_is_killed():
    """A --describe that closes its output and never exits is killed, with
    what it started, and flowd answers meanwhile and afterwards."""
    with AppsDir() as d, Flowd("--apps-dir", d) as f:
        pids = os.path.join(d, "pids")
        path, mark = write_app(
            d, "hang",
            f"exec >/dev/null; sleep 120 & echo $$ $! > '{pids}'; wait")
        st, _, body = f.request("POST", "/apps/sink/hang", {"uri": path},
                                timeout=25)
        assert st == 422, (st, body)
        assert (f"'{path} --describe' did not exit within 5 s and was "
                "killed") in body.decode(), body
        assert not os.path.exists(mark)
        shell, child = open(pids).read().split()
        wait_for("the --describe processes gone",
                 lambda: not alive(shell) and not alive(child), timeout=10)
        assert f.get("/health")["status"] == "UP"
        st, _, _ = f.request("GET", "/apps/sink/hang")
        assert st == 404


def test_describe_stdin_is_empty():
    """--describe reads end of file from stdin, even when flowd's own
    stdin stays open."""
    r, w = os.pipe()
    saved = os.dup(0)
    os.dup2(r, 0)
    try:
        with AppsDir() as d, Flowd("--apps-dir", d) as f:
            os.dup2(saved, 0)
            got = os.path.join(d, "stdin")
            path, _ = write_app(
                d, "reader",
                f"if read line; then echo \"line:$line\" > '{got}'; "
                f"else echo eof > '{got}'; fi")
            f.json("POST", "/apps/sink/reader", {"uri": path}, expect=201,
                   timeout=25)
            assert open(got).read() == "eof\n"
    finally:
        os.dup2(saved, 0)
        os.close(saved)
        os.close(r)
        os.close(w)


def test_describe_sandbox():
    """--describe sees only PATH, LANG, LC_* and TZ of flowd's environment
    and runs under resource limits."""
    env = {"LANG": "C.UTF-8", "LC_TIME": "C", "TZ": "UTC",
           "FLOW_IT_SECRET": "hunter2", "LD_LIBRARY_PATH": "/nonexistent"}
    with AppsDir() as d, Flowd("--apps-dir", d, env=env) as f:
        envf = os.path.join(d, "env")
        limf = os.path.join(d, "limits")
        path, _ = write_app(
            d, "sandboxed",
            f"tr '\\0' '\\n' < /proc/$$/environ > '{envf}'; "
            f"cat /proc/$$/limits > '{limf}'")
        f.json("POST", "/apps/sink/sandboxed", {"uri": path}, expect=201)
        seen = dict(line.split("=", 1)
                    for line in open(envf).read().splitlines() if line)
        assert set(seen) == {"PATH", "LANG", "LC_TIME", "TZ"}, seen
        assert seen["PATH"] == os.environ["PATH"], seen
        assert (seen["LANG"], seen["LC_TIME"], seen["TZ"]) == (
            "C.UTF-8", "C", "UTC"), seen
        limits = {}
        for line in open(limf).read().splitlines()[1:]:
            name = line[:26].strip()
            limits[name] = line[26:].split()[:2]
        assert limits["Max cpu time"] == ["5", "6"], limits
        assert limits["Max open files"] == ["64", "64"], limits
        assert limits["Max core file size"] == ["0", "0"], limits
        assert limits["Max address space"] == ["1073741824"] * 2, limits


def test_bad_property_value():
    """A property value the app's option table refuses is a 400 naming
    the property, the value and what is allowed; nothing is deployed."""
    with Flowd() as f:
        f.create("badprop", "time | log")
        want = ("deployment property 'app.log.level': 'LOUD' is not one of "
                "TRACE, DEBUG, INFO, WARN, ERROR")
        st, _, body = f.request("POST", "/streams/deployments/badprop",
                                {"app.log.level": "LOUD"})
        assert st == 400, (st, body)
        assert want in body.decode(), body
        st, _, body = f.request("POST", "/streams/deployments/badprop",
                                {"app.*.fixed-delay": "soon"})
        assert st == 400, (st, body)
        assert ("deployment property 'app.*.fixed-delay': 'soon' is not an "
                "integer") in body.decode(), body
        st, _, body = f.request("POST", "/streams/deployments/badprop",
                                {"app.*.no-such-option": "1"})
        assert st == 400, (st, body)
        assert "no app of stream 'badprop' has an option 'no-such-option'" \
            in body.decode(), body
        rc, out, err = flowctl(f, "deploy", "badprop", "--properties",
                               "app.log.level=LOUD")
        assert rc == 1, (rc, out, err)
        assert want in err, err
        time.sleep(1)
        assert f.status("badprop") == "undeployed"
        assert not pids_with("--flow.stream=badprop")
        d = f.get("/streams/definitions/badprop")
        assert d["status"] == "undeployed", d
        # A good value still deploys, and app.* reaches only the apps that
        # have the option.
        f.deploy("badprop", {"app.log.level": "WARN",
                             "app.*.fixed-delay": "1"})
        f.wait_status("badprop", "deployed", timeout=30)
        log = [i for i in f.instances("badprop") if i["label"] == "log"][0]
        cmd = open(f"/proc/{log['pid']}/cmdline").read().split("\0")
        assert "--level=WARN" in cmd and not any(
            a.startswith("--fixed-delay") for a in cmd), cmd


TESTS = {
    "world_writable_dir_refused": test_world_writable_dir_refused,
    "group_writable_file_refused": test_group_writable_file_refused,
    "outside_apps_dir_refused": test_outside_apps_dir_refused,
    "symlink_cannot_escape": test_symlink_cannot_escape,
    "allowed_dir_registers_and_deploys":
        test_allowed_dir_registers_and_deploys,
    "file_uri": test_file_uri,
    "changed_after_registration": test_changed_after_registration,
    "describe_hang_is_killed": test_describe_hang_is_killed,
    "describe_stdin_is_empty": test_describe_stdin_is_empty,
    "describe_sandbox": test_describe_sandbox,
    "bad_property_value": test_bad_property_value,
}

if __name__ == "__main__":
    run(TESTS)
