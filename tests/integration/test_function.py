#!/usr/bin/env python3
"""Function libraries through flowd (docs/functions.md): the example
library registered with flowctl and run as function --library=@NAME in a
stream, with exact counts against a field-value-counter of the same
seed's types; libraries that flowd refuses at registration (another ABI
version, outside the app directories), a library named by its path
(refused outside --allow-path, run under it), what a stream naming an
unknown one gets, and what the app refuses at start; snapshot and
restore of each function's and the library's state, without flowd."""
import json
import os
import shutil
import subprocess
import tempfile
import time

import msgpack

from flowd_harness import AppsDir, Flowd, flowctl, run, wait_for

EXAMPLE = os.environ["FLOW_IT_FUNCLIB"]
WRONG_ABI = os.environ["FLOW_IT_FUNCLIB_WRONG_ABI"]
N = 50000
ACTIONS = "ACCOUNT_CREATED:on_created,ACCOUNT_SUSPENDED:on_suspended"


def install(lib, d):
    """A copy of lib in the app directory d, as an operator installs it."""
    dst = os.path.join(d, os.path.basename(lib))
    shutil.copyfile(lib, dst)
    os.chmod(dst, 0o755)
    return dst


def fvc(f, name):
    st, _, body = f.request("GET", f"/metrics/field-value-counters/{name}")
    if st != 200:
        return {}
    return json.loads(body)["values"]


def test_register_and_run():
    with AppsDir() as d, Flowd("--apps-dir", d) as f:
        lib = install(EXAMPLE, d)
        rc, out, err = flowctl(f, "function", "register", "acct",
                               "--library", lib)
        assert rc == 0, (rc, out, err)
        assert "Registered function library 'acct'" in out, out
        assert "on_created on_suspended tag reject" in out, out
        rc, out, err = flowctl(f, "function", "list")
        assert rc == 0 and "acct" in out and lib in out, (rc, out, err)
        rc, out, err = flowctl(f, "function", "info", "acct")
        assert rc == 0 and "function --library=@acct" in out, (out, err)
        assert "ABI version: 1" in out, out
        e = f.get("/functions/acct")
        assert e["uri"] == os.path.realpath(lib), e
        assert e["abi_version"] == 1 and e["library"] == "account_functions"
        assert e["snapshot"] is True, e
        assert [x["name"] for x in e["functions"]] == \
            ["on_created", "on_suspended", "tag", "reject"], e
        assert f.get("/functions")["_embedded"][
            "functionLibraryResourceList"][0]["name"] == "acct"

        src = f"load-sim --count={N} --rate=0 --seed=1"
        fn = (f"function --library=@acct --action-expression=payload.type "
              f"--actions={ACTIONS}")
        f.create("fn", f"{src} | {fn} | counter --name=fn-out",
                 deploy=True)
        f.create("fnby", f"{src} | {fn} | field-value-counter "
                 "--field-name=handled_by --name=fn-by", deploy=True)
        f.create("fntypes", f"{src} | field-value-counter "
                 "--field-name=type --name=fn-types", deploy=True)
        wait_for("types counted", lambda: sum(fvc(f, "fn-types").values())
                 >= N, timeout=180, interval=0.2)
        wait_for("sources completed", lambda: all(
            i["state"] == "completed" for s in ("fn", "fnby", "fntypes")
            for i in f.instances(s) if i["label"] == "load-sim"),
            timeout=120)
        wait_for("functions received all", lambda: all(
            i["in"] == N for s in ("fn", "fnby")
            for i in f.instances(s) if i["label"] == "function"),
            timeout=120)
        types = fvc(f, "fn-types")
        created = types["ACCOUNT_CREATED"]
        suspended = types["ACCOUNT_SUSPENDED"]
        assert created > 0 and suspended > 0, types
        handled = created + suspended
        wait_for("handled counted", lambda: f.counter("fn-out") >= handled
                 and sum(fvc(f, "fn-by").values()) >= handled, timeout=60)
        # Two more report periods: nothing may be counted twice.
        time.sleep(2.5)
        assert f.counter("fn-out") == handled, (f.counter("fn-out"), types)
        assert fvc(f, "fn-by") == {"on_created": created,
                                   "on_suspended": suspended}, fvc(f, "fn-by")
        # Every other event went to the error output, with the reason.
        for s in ("fn", "fnby"):
            i = [i for i in f.instances(s) if i["label"] == "function"][0]
            assert i["out"] == handled and i["errors"] == N - handled, i

        # A library a definition names cannot be unregistered.
        st, _, body = f.request("DELETE", "/functions/acct")
        assert st == 409 and b"stream 'fn' uses function library 'acct'" \
            in body, (st, body)
        for s in ("fn", "fnby", "fntypes"):
            f.request("DELETE", f"/streams/definitions/{s}")
        rc, out, err = flowctl(f, "function", "unregister", "acct")
        assert rc == 0, (rc, out, err)
        st, _, _ = f.request("GET", "/functions/acct")
        assert st == 404


def test_refused():
    with AppsDir() as d, AppsDir() as other, Flowd("--apps-dir", d) as f:
        bad = install(WRONG_ABI, d)
        rc, out, err = flowctl(f, "function", "register", "bad",
                               "--library", bad)
        assert rc != 0, (rc, out, err)
        assert ("the library speaks function ABI version 2, this flow "
                "speaks version 1; rebuild it against this flow's "
                "flow/function.h") in err, err
        st, _, _ = f.request("GET", "/functions/bad")
        assert st == 404
        # Outside every --apps-dir: the rules of an app's executable.
        outside = install(EXAMPLE, other)
        st, _, body = f.request("POST", "/functions/acct",
                                {"uri": outside})
        assert st == 403 and b"not under an allowed app directory" in body, \
            (st, body)
        # A stream naming a library nobody registered is not deployed.
        f.create("nolib", "load-sim --count=10 | function --library=@nope "
                 "--name=tag | log")
        st, _, body = f.request("POST", "/streams/deployments/nolib", {})
        assert st == 422 and b"no function library is registered as 'nope'" \
            in body, (st, body)
        # A library named by its path passes the path rules, at deploy.
        f.create("rawlib", f"load-sim --count=10 | function "
                 f"--library={outside} --name=tag | log")
        st, _, body = f.request("POST", "/streams/deployments/rawlib", {})
        assert st == 400 and b"app 'function': --library: " in body and \
            b"is outside the allowed directories" in body, (st, body)
        # Under --allow-path it runs.
        with Flowd("--allow-path", other) as g:
            g.create("rawlib", f"load-sim --count=100 --rate=0 | function "
                     f"--library={outside} --name=tag | field-value-counter "
                     "--field-name=handled_by --name=raw-tag", deploy=True)
            wait_for("tagged", lambda: fvc(g, "raw-tag") == {"tag": 100},
                     timeout=60)
        # flow-host, which single packaging runs, cannot load libraries.
        st, _, body = f.request("POST", "/streams/deployments/nolib",
                                {"deployer.packaging": "single"})
        assert st == 400 and b"flow-host, which cannot load function " \
            b"libraries" in body, (st, body)
        # Run by hand, the app itself refuses it: exit status 2.
        p = subprocess.run([os.environ["FLOW_IT_FUNCTION_APP"], f"--library={bad}", "--name=pass"],
                           capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        assert p.returncode == 2, (p.returncode, p.stderr)
        assert "speaks function ABI version 2" in p.stderr, p.stderr
        # And a function the library lacks, listing what it has.
        p = subprocess.run([os.environ["FLOW_IT_FUNCTION_APP"],
                            f"--library={EXAMPLE}",
                            "--action-expression=payload.type",
                            "--actions=ACCOUNT_CREATED:on_created,"
                            "ACCOUNT_ARCHIVED:on_archived"],
                           capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        assert p.returncode == 2, (p.returncode, p.stderr)
        assert "has no function 'on_archived'; it has: on_created, " \
            "on_suspended, tag, reject" in p.stderr, p.stderr


def test_kept_across_restarts():
    """A registered library is read back from the store at start and
    checked again; one changed since is listed with the reason and no
    stream runs it."""
    with AppsDir() as d:
        data = os.path.join(d, "data")
        lib = install(EXAMPLE, d)
        with Flowd("--apps-dir", d, data_dir=data) as f:
            f.json("POST", "/functions/acct", {"uri": lib}, expect=201)
            f.create("keep", "load-sim --count=100 --rate=0 | function "
                     "--library=@acct --name=tag | field-value-counter "
                     "--field-name=handled_by --name=keep-tag")
        with Flowd("--apps-dir", d, data_dir=data) as f:
            e = f.get("/functions/acct")
            assert "error" not in e and len(e["functions"]) == 4, e
            f.deploy("keep")
            wait_for("tagged", lambda: fvc(f, "keep-tag") == {"tag": 100},
                     timeout=60)
            f.json("DELETE", "/streams/deployments/keep")
            f.wait_status("keep", "undeployed")
            os.chmod(lib, 0o777)
            st, _, body = f.request("POST", "/streams/deployments/keep", {})
            assert st == 422 and (f"function library 'acct' is not run: "
                                  f"{lib}: the file is writable by others"
                                  ) in body.decode(), (st, body)
        with Flowd("--apps-dir", d, data_dir=data) as f:
            e = f.get("/functions/acct")
            assert "the file is writable by others" in e["error"], e
            st, _, body = f.request("POST", "/streams/deployments/keep", {})
            assert st == 422 and b"function library 'acct' is not run" in \
                body, (st, body)
            assert "registered function library acct: " in f.read_log()


def pipeline(tmp, n, *fn_args):
    """load-sim --count=n --seed=3 | function FN_ARGS | counter over ipc://
    with no flowd, every process waited for or killed; returns the
    function's and the counter's final metrics."""
    apps = os.path.dirname(os.environ["FLOW_IT_FUNCTION_APP"])
    a, b = f"ipc://{tmp}/a", f"ipc://{tmp}/b"
    for m in ("fn.json", "sink.json"):
        if os.path.exists(os.path.join(tmp, m)):
            os.unlink(os.path.join(tmp, m))
    argvs = [
        [os.path.join(apps, "flow-counter"), "--name=fn-snap",
         f"--flow.input={b}", "--flow.eos-exit=1",
         f"--flow.metrics-json={tmp}/sink.json"],
        [os.environ["FLOW_IT_FUNCTION_APP"], *fn_args, f"--flow.input={a}",
         f"--flow.output={b}", "--flow.eos-exit=1",
         f"--flow.metrics-json={tmp}/fn.json"],
        [os.path.join(apps, "flow-load-sim"), f"--count={n}", "--rate=0",
         "--seed=3", f"--flow.output={a}"],
    ]
    ps = []
    try:
        for argv in argvs:
            ps.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL))
        for p in ps:
            assert p.wait(timeout=120) == 0, (p.args, p.returncode)
    finally:
        for p in ps:
            if p.poll() is None:
                p.kill()
                p.wait()
    with open(f"{tmp}/fn.json") as f1, open(f"{tmp}/sink.json") as f2:
        return json.load(f1), json.load(f2)


def test_snapshot_restore():
    """Each function's state is its own entry of the app's snapshot, and
    a restarted app restores it: the same events twice count twice."""
    n = 2000
    with tempfile.TemporaryDirectory(prefix="fn-snap-") as tmp:
        state = os.path.join(tmp, "state")
        args = [f"--library={EXAMPLE}", "--action-expression=payload.type",
                f"--actions={ACTIONS}", f"--flow.state={state}"]
        fn, sink = pipeline(tmp, n, *args)
        with open(state, "rb") as f:
            saved = msgpack.unpackb(f.read())
        assert sorted(saved) == ["@library", "on_created", "on_suspended"], \
            saved
        created = int.from_bytes(saved["on_created"], "big")
        suspended = int.from_bytes(saved["on_suspended"], "big")
        assert created > 0 and suspended > 0, saved
        # The library's own state, which both functions share.
        assert int.from_bytes(saved["@library"], "big") == \
            created + suspended, saved
        assert sink["counters"][0]["total"] == created + suspended, (sink, saved)
        assert fn["in"] == n and fn["out"] == created + suspended, fn
        assert fn["errors"] == n - created - suspended, fn

        fn, sink = pipeline(tmp, n, *args)
        with open(state, "rb") as f:
            again = msgpack.unpackb(f.read())
        assert int.from_bytes(again["on_created"], "big") == 2 * created
        assert int.from_bytes(again["on_suspended"], "big") == 2 * suspended
        assert int.from_bytes(again["@library"], "big") == \
            2 * (created + suspended), again
        assert sink["counters"][0]["total"] == created + suspended, sink

        # --default-action takes every event --actions does not map.
        fn, sink = pipeline(tmp, n, f"--library={EXAMPLE}",
                            "--action-expression=payload.type",
                            f"--actions={ACTIONS}", "--default-action=tag")
        assert fn["out"] == n and fn["errors"] == 0, fn
        assert sink["counters"][0]["total"] == n, sink
        # --name runs one function for every event.
        fn, sink = pipeline(tmp, n, f"--library={EXAMPLE}", "--name=reject")
        assert fn["out"] == 0 and fn["errors"] == n, fn


TESTS = {
    "register_and_run": test_register_and_run,
    "refused": test_refused,
    "snapshot_restore": test_snapshot_restore,
    "kept_across_restarts": test_kept_across_restarts,
}

if __name__ == "__main__":
    run(TESTS)
