"""The installed flow (meson install with DESTDIR into a temporary
directory): no installed file holds a path of the source or build tree,
the installed flowd finds its apps and dashboard relative to itself, and
an app built out of tree with nothing but `pkg-config --cflags --libs
flow` registers with the installed flowctl and runs in a stream.

flowctl validate against the server's registry and the built-in apps is
tested here too (its registry is what an SDK app joins)."""

import json
import os
import shutil
import subprocess
import tempfile
import time

import flowd_harness
from flowd_harness import AppsDir, Flowd, flowctl, run, wait_for

SOURCE_ROOT = os.path.realpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD_ROOT = os.path.realpath(os.environ.get("FLOW_IT_BUILD_ROOT") or
                              os.path.join(SOURCE_ROOT, "build"))


class Install:
    """The build installed with DESTDIR under a fresh directory; the
    harness's FLOWD and FLOWCTL point at the installed binaries while it
    is open."""

    def __enter__(self):
        self.apps = AppsDir()
        self.root = self.apps.__enter__()
        self.destdir = os.path.join(self.root, "stage")
        p = subprocess.run(
            [shutil.which("meson"), "install", "-C", BUILD_ROOT,
             "--no-rebuild", "--quiet", "--destdir", self.destdir],
            capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
        prefix = subprocess.run(
            [shutil.which("meson"), "introspect", BUILD_ROOT,
             "--buildoptions"], capture_output=True, text=True,
            check=True).stdout
        opts = {o["name"]: o["value"] for o in json.loads(prefix)}
        self.prefix = self.destdir + opts["prefix"]
        self.bindir = os.path.join(self.prefix, opts["bindir"])
        self.libdir = os.path.join(self.prefix, opts["libdir"])
        self.libexec = os.path.join(self.prefix, opts["libexecdir"], "flow")
        self.saved = flowd_harness.FLOWD, flowd_harness.FLOWCTL
        flowd_harness.FLOWD = os.path.join(self.bindir, "flowd")
        flowd_harness.FLOWCTL = os.path.join(self.bindir, "flowctl")
        return self

    def files(self):
        for d, _, names in os.walk(self.destdir):
            for n in names:
                yield os.path.join(d, n)

    def pkg_env(self):
        """pkg-config pointed at the staged tree: flow.pc says the prefix
        it was configured with, which lies under DESTDIR (a sysroot)."""
        return dict(os.environ,
                    PKG_CONFIG_PATH=os.path.join(self.libdir, "pkgconfig"),
                    PKG_CONFIG_SYSROOT_DIR=self.destdir)

    def __exit__(self, *exc):
        flowd_harness.FLOWD, flowd_harness.FLOWCTL = self.saved
        self.apps.__exit__(*exc)


def strings(path):
    p = subprocess.run(["strings", "-a", path], capture_output=True,
                       check=True)
    return p.stdout.decode(errors="replace")


def test_install_relocated():
    with Install() as inst:
        installed = sorted(os.path.relpath(f, inst.prefix)
                           for f in inst.files())
        for want in ("bin/flowd", "bin/flowctl", "include/flow/flow.h",
                     "include/flow/app.h", "share/man/man8/flowd.8",
                     "share/man/man1/flowctl.1",
                     "share/flow/dashboard/index.html"):
            assert want in installed, (want, installed)
        for app in ("flow-host", "flow-account-events", "flow-load-sim",
                    "flow-counter", "flow-log"):
            assert os.access(os.path.join(inst.libexec, app), os.X_OK), app
        assert os.path.exists(os.path.join(inst.libdir, "libflow.a"))
        assert os.path.exists(os.path.join(inst.libdir, "pkgconfig",
                                           "flow.pc"))
        # No installed file names where it was built or its sources lie.
        leaks = []
        for f in inst.files():
            text = strings(f)
            for tree in (SOURCE_ROOT, BUILD_ROOT):
                if tree in text:
                    leaks.append((os.path.relpath(f, inst.destdir), tree))
        assert not leaks, leaks
        # The staged flowd (not where it was configured to live) finds
        # the staged apps, flow-host and dashboard beside itself.
        with Flowd() as f:
            apps = f.get("/apps?size=1000")["_embedded"][
                "appRegistrationResourceList"]
            uris = {a["name"]: a["uri"] for a in apps}
            assert uris.get("account-events") == os.path.join(
                inst.libexec, "flow-account-events"), uris
            assert all(u.startswith(inst.libexec + "/")
                       for u in uris.values()), uris
            st, _, body = f.request("GET", "/")
            assert st == 200 and b"<html" in body.lower(), (st, body[:200])
            st, _, body = f.request("GET", "/vendor/uplot/uPlot.esm.js")
            if os.path.isdir(os.path.join(SOURCE_ROOT, "node_modules",
                                          "uplot")):
                assert st == 200 and len(body) > 1000, st
            n = 20000
            f.create("inst", f"load-sim --count={n} --rate=0 --seed=7 | "
                     "account-events | counter --name=inst-count",
                     deploy=True)
            wait_for("all counted", lambda: f.counter("inst-count") >= n,
                     timeout=180, interval=0.2)
            time.sleep(2.5)
            assert f.counter("inst-count") == n, f.counter("inst-count")
            # flow-host (single packaging) is found beside the apps too.
            f.create("host", f"load-sim --count={n} --rate=0 --seed=7 | "
                     "account-events | counter --name=host-count")
            f.deploy("host", {"deployer.packaging": "single"})
            wait_for("all counted", lambda: f.counter("host-count") >= n,
                     timeout=180, interval=0.2)
            time.sleep(2.5)
            assert f.counter("host-count") == n, f.counter("host-count")


def build_example(inst, src, out):
    """cc SRC -o OUT $(pkg-config --cflags --libs flow), nothing else."""
    env = inst.pkg_env()
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "flow"],
                           capture_output=True, text=True, env=env,
                           check=True).stdout.split()
    p = subprocess.run(["cc", "-Wall", "-Wextra", "-Werror", "-o", out,
                        os.path.join(SOURCE_ROOT, src), *flags],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    os.chmod(out, 0o755)


def read_jsonl(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f]
    except FileNotFoundError:
        return []


def test_examples_out_of_tree():
    with Install() as inst, AppsDir() as apps:
        thr = os.path.join(apps, "flow-amount-threshold")
        jsonl = os.path.join(apps, "flow-jsonl")
        build_example(inst, "examples/processor/amount-threshold.c", thr)
        build_example(inst, "examples/sink/jsonl.c", jsonl)
        # The examples are not installed apps.
        assert not os.path.exists(os.path.join(inst.libexec,
                                               "flow-jsonl"))
        out = tempfile.mkdtemp(prefix="out-", dir=apps)
        with Flowd("--apps-dir", apps, "--allow-path", out) as f:
            for name, typ, uri in (("amount-threshold", "processor", thr),
                                   ("jsonl", "sink", jsonl)):
                rc, so, se = flowctl(f, "app", "register", name, "--type",
                                     typ, "--uri", uri)
                assert rc == 0, (so, se)
            n, least = 20000, 500
            all_path = os.path.join(out, "all.jsonl")
            big_path = os.path.join(out, "big.jsonl")
            f.create("all", f"load-sim --count={n} --rate=0 --seed=7 | "
                     f"jsonl --path={all_path}", deploy=True)
            f.create("big", f"load-sim --count={n} --rate=0 --seed=7 | "
                     f"amount-threshold --min-amount={least} | "
                     f"jsonl --path={big_path}", deploy=True)
            wait_for("all written", lambda: len(read_jsonl(all_path)) >= n,
                     timeout=180, interval=0.2)

            def fields(e):
                p = e["payload"]
                return (p["account"], p["seq"], p["type"], p.get("amount"))
            everything = [fields(e) for e in read_jsonl(all_path)]
            want = [e for e in everything
                    if e[3] is not None and e[3] >= least]
            assert 0 < len(want) < n, len(want)
            wait_for("the big ones written",
                     lambda: len(read_jsonl(big_path)) >= len(want),
                     timeout=180, interval=0.2)
            wait_for("sources completed", lambda: all(
                i["state"] == "completed" for s in ("all", "big")
                for i in f.instances(s) if i["label"] == "load-sim"))
            time.sleep(2.5)
            assert len(read_jsonl(all_path)) == n
            got = [fields(e) for e in read_jsonl(big_path)]
            assert got == want, (len(got), len(want))
            # The processor's events without an amount went to its error
            # output, counted as errors.
            thr_inst = [i for i in f.instances("big")
                        if i["label"] == "amount-threshold"][0]
            no_amount = sum(1 for e in everything if e[3] is None)
            assert thr_inst["in"] == n, thr_inst
            assert thr_inst["errors"] == no_amount, (thr_inst, no_amount)


def test_validate_registry():
    """flowctl validate knows a registered app when flowd answers, and
    checks against the built-in apps (found beside the installed flowctl)
    when none does, saying which in both outputs."""
    with Install() as inst, AppsDir() as apps:
        jsonl = os.path.join(apps, "flow-jsonl")
        build_example(inst, "examples/sink/jsonl.c", jsonl)
        definition = "time | jsonl --path=out.jsonl"
        with Flowd("--apps-dir", apps) as f:
            rc, so, se = flowctl(f, "validate", "-e", definition)
            assert rc == 1 and "jsonl" in so, (rc, so, se)
            assert f"registered with flowd at {f.base}" in se, se
            rc, so, se = flowctl(f, "app", "register", "jsonl", "--type",
                                 "sink", "--uri", jsonl)
            assert rc == 0, (so, se)
            rc, so, se = flowctl(f, "validate", "-e", definition)
            assert rc == 0 and "valid:" in so, (rc, so, se)
            n = len(f.get("/apps?size=1000")["_embedded"][
                "appRegistrationResourceList"])
            assert f"checked against the {n} apps registered with flowd "\
                f"at {f.base}" in se, se
            rc, so, se = flowctl(f, "-o", "json", "validate", "-e",
                                 definition)
            doc = json.loads(so)
            assert rc == 0 and doc["registry"] == {
                "source": "server", "server": f.base, "apps": n}, (rc, so)
            # A bad option of the registered app is found, as flowd would.
            rc, so, se = flowctl(f, "validate", "-e", "time | jsonl --pth=x")
            assert rc == 1 and "pth" in so, (rc, so, se)
            # No server: the built-in apps, which do not know jsonl.
            nobody = {"FLOW_SERVER": "http://127.0.0.1:1"}
            rc, so, se = flowctl(f, "validate", "-e", definition, env=nobody)
            assert rc == 1 and "jsonl" in so, (rc, so, se)
            assert "checked against the built-in apps (no flowd answers at "\
                "http://127.0.0.1:1)" in se, se
            rc, so, se = flowctl(f, "-o", "json", "validate", "-e",
                                 "time | log", env=nobody)
            doc = json.loads(so)
            assert rc == 0 and doc["registry"]["source"] == "builtin", so
            rc, so, se = flowctl(f, "validate", "--offline", "-e",
                                 "time | log")
            assert rc == 0 and "(--offline)" in se, (rc, so, se)


TESTS = {
    "install_relocated": test_install_relocated,
    "examples_out_of_tree": test_examples_out_of_tree,
    "validate_registry": test_validate_registry,
}

if __name__ == "__main__":
    run(TESTS)
