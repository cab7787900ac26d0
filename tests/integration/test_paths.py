"""Options that name files are confined (docs/apps.md "Paths").

Each test starts its own flowd (and apps) on a free port with a fresh
data directory, and uses temporary directories for the allowed and the
outside places, never a real system directory.

  outside_refused     a path outside every allowed directory, or climbing
                      out of the instance directory with '..', is a 400
                      naming the option, at create and at deploy
  deploy_rechecks     a stored definition whose path a restarted flowd no
                      longer allows is refused at deploy
  allowed_written     with flowd --allow-path D, a path under D is written
  relative_in_instance_dir
                      a relative path lands in the instance's directory,
                      and a redeployed instance replaces its own output
  symlink_not_followed
                      a symlink planted in D (to a file, or to a directory
                      outside) is not followed; the target stays unchanged
  readonly_kept       a 0444 file already in D is not overwritten
  by_hand_bad_path    an app run without flowd with a bad path stops at
                      start with a message naming the option
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

from flowd_harness import Flowd, wait_for, run

FLOWD = os.environ.get("FLOWD", "flowd")
APPS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(FLOWD))),
                    "modules")


def scratch():
    return tempfile.mkdtemp(prefix="flow-paths-")


def create_error(f, name, definition):
    """Creates a stream that must be refused; returns the message."""
    status, _, data = f.request("POST", "/streams/definitions",
                                {"name": name, "definition": definition})
    assert status == 400, (status, data)
    return json.loads(data)["message"]


def events_in(f, name, label="counter"):
    return sum(i.get("in", 0) for i in f.instances(name)
               if i["label"] == label)


def run_and_undeploy(f, name, events=2):
    """Deploys name, waits until its counter saw events, undeploys."""
    f.deploy(name)
    f.wait_status(name, "deployed", timeout=30)
    wait_for(f"{name} counts", lambda: events_in(f, name) >= events,
             timeout=30)
    f.json("DELETE", f"/streams/deployments/{name}", expect=200)
    f.wait_status(name, "undeployed", timeout=30)


def app_log(f, name, label="counter", index=0):
    path = os.path.join(f.data_dir, "logs", f"{name}.{label}-{index}.log")
    try:
        with open(path, errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def test_outside_refused():
    out = scratch()
    try:
        with Flowd() as f:
            bad = os.path.join(out, "x")
            msg = create_error(f, "t1",
                               f"time | counter --latency-json={bad}")
            assert (f"counter --latency-json: {bad} is outside the allowed "
                    "directories (flowd --allow-path)") in msg, msg
            msg = create_error(f, "t2",
                               "time | counter --latency-json=a/../../x")
            assert ("counter --latency-json: a/../../x climbs out of the "
                    "instance directory") in msg, msg
            # The same rule holds for a path given as a deployment property.
            f.create("t3", "time | counter")
            status, _, data = f.request(
                "POST", "/streams/deployments/t3",
                {"app.counter.latency-json": bad})
            assert status == 400, (status, data)
            msg = json.loads(data)["message"]
            assert (f"counter --latency-json: {bad} is outside the allowed "
                    "directories") in msg, msg
            assert f.status("t3") == "undeployed", f.status("t3")
            assert os.listdir(out) == [], os.listdir(out)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_deploy_rechecks():
    d = scratch()
    try:
        with Flowd("--allow-path", d) as f:
            path = os.path.join(d, "lat.json")
            f.create("again", f"time | counter --latency-json={path}")
            # The same store, served by a flowd that no longer allows d.
            assert f.terminate() == 0
            f.log.close()
            f.args = []
            f.start()
            status, _, data = f.request("POST",
                                        "/streams/deployments/again", {})
            assert status == 400, (status, data)
            msg = json.loads(data)["message"]
            assert (f"counter --latency-json: {path} is outside the allowed "
                    "directories (flowd --allow-path)") in msg, msg
            assert f.status("again") == "undeployed", f.status("again")
            assert os.listdir(d) == [], os.listdir(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_allowed_written():
    d = scratch()
    try:
        with Flowd("--allow-path", d) as f:
            path = os.path.join(d, "lat.json")
            f.create("ok", f"time | counter --latency-json={path}")
            run_and_undeploy(f, "ok")
            wait_for("the latency file", lambda: os.path.exists(path))
            with open(path) as fh:
                lat = json.load(fh)
            assert lat["count"] >= 2, lat
            # Nothing else is left beside it (the temporary file is gone).
            assert os.listdir(d) == ["lat.json"], os.listdir(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_relative_in_instance_dir():
    with Flowd() as f:
        f.create("rel", "time | counter --latency-json=lat.json")
        run_and_undeploy(f, "rel")
        inst = os.path.join(f.data_dir, "run", "rel.counter-0")
        path = os.path.join(inst, "lat.json")
        wait_for("the latency file", lambda: os.path.exists(path))
        with open(path) as fh:
            first = json.load(fh)
        assert first["count"] >= 2, first
        mode = stat.S_IMODE(os.stat(inst).st_mode)
        assert mode == 0o700, oct(mode)
        # A second run of the same instance replaces its own output.
        ino = os.stat(path).st_ino
        run_and_undeploy(f, "rel", events=1)
        wait_for("a new latency file", lambda: os.stat(path).st_ino != ino)
        with open(path) as fh:
            second = json.load(fh)
        assert second["first_us"] > first["last_us"], (first, second)
        assert "cannot write" not in app_log(f, "rel"), app_log(f, "rel")


def test_symlink_not_followed():
    d, out = scratch(), scratch()
    try:
        target = os.path.join(out, "target")
        with open(target, "w") as fh:
            fh.write("original\n")
        os.symlink(target, os.path.join(d, "link.json"))
        os.symlink(out, os.path.join(d, "subdir"))
        with Flowd("--allow-path", d) as f:
            f.create("ln", "time | counter --latency-json=%s"
                     % os.path.join(d, "link.json"))
            f.deploy("ln")
            wait_for("the refusal in the app's log",
                     lambda: "is a symbolic link, which is not followed"
                     in app_log(f, "ln"), timeout=30)
            f.json("DELETE", "/streams/deployments/ln", expect=200)
            f.create("sub", "time | counter --latency-json=%s"
                     % os.path.join(d, "subdir", "x.json"))
            f.deploy("sub")
            wait_for("the refusal in the app's log",
                     lambda: "symbolic link, which is not followed"
                     in app_log(f, "sub"), timeout=30)
            f.json("DELETE", "/streams/deployments/sub", expect=200)
            f.wait_status("ln", "undeployed", timeout=30)
            f.wait_status("sub", "undeployed", timeout=30)
        with open(target) as fh:
            assert fh.read() == "original\n"
        assert sorted(os.listdir(out)) == ["target"], os.listdir(out)
        assert os.path.islink(os.path.join(d, "link.json"))
    finally:
        shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)


def test_readonly_kept():
    d = scratch()
    try:
        path = os.path.join(d, "ro.json")
        with open(path, "w") as fh:
            fh.write("keep\n")
        os.chmod(path, 0o444)
        with Flowd("--allow-path", d) as f:
            f.create("ro", f"time | counter --latency-json={path}")
            f.deploy("ro")
            wait_for("the refusal in the app's log",
                     lambda: "exists and is read-only" in app_log(f, "ro"),
                     timeout=30)
            f.json("DELETE", "/streams/deployments/ro", expect=200)
            f.wait_status("ro", "undeployed", timeout=30)
        with open(path) as fh:
            assert fh.read() == "keep\n"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o444
        assert os.listdir(d) == ["ro.json"], os.listdir(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_by_hand_bad_path():
    d, out = scratch(), scratch()
    try:
        counter = os.path.join(APPS, "flow-counter")
        missing = os.path.join(out, "no-such-dir", "x.json")
        p = subprocess.run([counter, "--latency-json=" + missing],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (p.returncode, p.stderr)
        assert p.stderr.startswith("flow-counter: --latency-json: "), p.stderr
        assert "No such file or directory" in p.stderr, p.stderr
        outside = os.path.join(out, "x.json")
        p = subprocess.run([counter, "--flow.allow-path=" + d,
                            "--latency-json=" + outside],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (p.returncode, p.stderr)
        assert (f"flow-counter: --latency-json: {outside} is outside the "
                "allowed directories") in p.stderr, p.stderr
        p = subprocess.run([counter, "--flow.allow-path=" + d,
                            "--flow.metrics-json=" + outside],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (p.returncode, p.stderr)
        assert "flow-counter: --flow.metrics-json: " in p.stderr, p.stderr
        assert os.listdir(out) == [], os.listdir(out)
    finally:
        shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)


TESTS = {
    "outside_refused": test_outside_refused,
    "deploy_rechecks": test_deploy_rechecks,
    "allowed_written": test_allowed_written,
    "relative_in_instance_dir": test_relative_in_instance_dir,
    "symlink_not_followed": test_symlink_not_followed,
    "readonly_kept": test_readonly_kept,
    "by_hand_bad_path": test_by_hand_bad_path,
}

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    run(TESTS)
