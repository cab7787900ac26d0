#!/usr/bin/python3
"""The script processor through flowd, with exact counts.

  file         load-sim --count=50000 --seed=1 | script --script=FILE (keeps
               ACCOUNT_DEPOSITED events and adds a field) | counter: the
               count equals a field-value-counter's count of that type for
               the same seed, and every kept event carries the field
  text         a multi-line --script-text holding quotes, created with
               flowctl stream create, keeps exactly the ACCOUNT_CREATED
               events
  errors       a script that raises an error for ACCOUNT_SUSPENDED events
               and loops forever on ACCOUNT_ARCHIVED ones: those go to the
               error output (counted in the instance's errors, the last
               error naming the script's line or the budget), the rest
               pass, and the app keeps running
  load_error   a script with a syntax error fails at start with the Lua
               message (file:line) in the instance's log
  state        the script's snapshot()/restore(state) carry its count over
               a restart (--flow.state), the apps run by hand over ipc://
  error_output by hand, the failing script's --flow.error-output read by a
               field-value-counter of the error messages: one per failed
               event, each with the script's line or the budget
"""

import json
import os
import shutil
import subprocess
import tempfile
import time

from flowd_harness import Flowd, flowctl, run, wait_for

N = 50000
WAIT = 240
FLOWD = os.environ.get("FLOWD", "flowd")
APPS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(FLOWD))),
                    "modules")

KEEP_DEPOSITS = """\
-- Keeps the deposits and marks them.
local seen = 0
function process(event)
  seen = seen + 1
  if event.payload.type ~= "ACCOUNT_DEPOSITED" then
    return nil
  end
  event.payload.via = "script"
  return event
end
function snapshot() return tostring(seen) end
function restore(s) seen = tonumber(s) end
"""

FAILING = """\
function process(event)
  local t = event.payload.type
  if t == "ACCOUNT_SUSPENDED" then
    error("no suspensions here")
  elseif t == "ACCOUNT_ARCHIVED" then
    while true do end
  end
  return event
end
"""


class ScriptDir:
    """A directory for the scripts that flowd is told to allow
    (--allow-path), under the build directory, removed on exit."""

    def __init__(self):
        base = os.environ.get("FLOW_IT_APPS_BASE") or os.getcwd()
        self.path = tempfile.mkdtemp(prefix="scripts-", dir=base)
        os.chmod(self.path, 0o755)

    def write(self, name, text):
        p = os.path.join(self.path, name)
        with open(p, "w") as fh:
            fh.write(text)
        os.chmod(p, 0o644)
        return p

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def types_stream(f, name):
    """The per-type counts of the same seed, from a field-value-counter."""
    f.create(name, f"load-sim --count={N} --rate=0 --seed=1 | "
             f"field-value-counter --field-name=type --name={name}",
             deploy=True)


def fvc(f, name):
    st, _, body = f.request("GET", f"/metrics/field-value-counters/{name}")
    if st != 200:
        return {}
    return json.loads(body)["values"]


def app_instance(f, stream, label):
    return [i for i in f.instances(stream) if i["label"] == label][0]


def wait_done(f, streams):
    """The sources of streams completed and every sink saw what its
    upstream sent; then two report periods, so nothing is still coming."""
    wait_for("sources completed", lambda: all(
        i["state"] == "completed" for s in streams
        for i in f.instances(s) if i["label"] == "load-sim"), WAIT, 0.2)
    wait_for("all delivered", lambda: all(
        app_instance(f, s, "load-sim")["out"] == N for s in streams),
        WAIT, 0.2)
    time.sleep(2.5)


def test_file():
    with ScriptDir() as d, Flowd("--allow-path", d.path) as f:
        path = d.write("keep.lua", KEEP_DEPOSITS)
        types_stream(f, "sf-types")
        f.create("sf", f"load-sim --count={N} --rate=0 --seed=1 | "
                 f"script --language=lua --script={path} | "
                 "counter --name=sf-count", deploy=True)
        f.create("sf-via", f"load-sim --count={N} --rate=0 --seed=1 | "
                 f"script --script={path} | "
                 "field-value-counter --field-name=via --name=sf-via",
                 deploy=True)
        want = wait_for("deposits counted",
                        lambda: sum(fvc(f, "sf-types").values()) == N
                        and fvc(f, "sf-types").get("ACCOUNT_DEPOSITED"),
                        WAIT, 0.2)
        assert 0 < want < N, want
        wait_for("script output counted",
                 lambda: f.counter("sf-count") >= want
                 and sum(fvc(f, "sf-via").values()) >= want, WAIT, 0.2)
        wait_done(f, ["sf", "sf-via", "sf-types"])
        assert f.counter("sf-count") == want, (f.counter("sf-count"), want)
        assert fvc(f, "sf-via") == {"script": want}, fvc(f, "sf-via")
        s = app_instance(f, "sf", "script")
        assert s["in"] == N and s["out"] == want and s["errors"] == 0, s


def test_text():
    with Flowd() as f:
        types_stream(f, "st-types")
        # Quotes of both kinds and newlines inside the single-quoted
        # value: '' stands for one quote (docs/dsl.md).
        text = ("\n-- keeps \"created\" events\n"
                "function process(ev)\n"
                "  if ev.payload.type == ''ACCOUNT_CREATED'' then\n"
                "    ev.payload.note = \"it''s new\"\n"
                "    return ev\n"
                "  end\n"
                "end\n")
        rc, out, err = flowctl(
            f, "stream", "create", "st",
            f"load-sim --count={N} --rate=0 --seed=1 | "
            f"script --script-text='{text}' | "
            "field-value-counter --field-name=note --name=st-note",
            "--deploy")
        assert rc == 0, (rc, out, err)
        want = wait_for("types counted",
                        lambda: sum(fvc(f, "st-types").values()) == N
                        and fvc(f, "st-types").get("ACCOUNT_CREATED"),
                        WAIT, 0.2)
        wait_for("notes counted",
                 lambda: sum(fvc(f, "st-note").values()) >= want, WAIT, 0.2)
        wait_done(f, ["st", "st-types"])
        assert fvc(f, "st-note") == {"it's new": want}, fvc(f, "st-note")


def test_errors():
    with ScriptDir() as d, Flowd("--allow-path", d.path) as f:
        path = d.write("failing.lua", FAILING)
        types_stream(f, "se-types")
        f.create("se", f"load-sim --count={N} --rate=0 --seed=1 | "
                 f"script --script={path} --max-instructions=20000 | "
                 "counter --name=se-count", deploy=True)
        types = wait_for("types counted",
                         lambda: sum(fvc(f, "se-types").values()) == N
                         and fvc(f, "se-types"), WAIT, 0.2)
        bad = types.get("ACCOUNT_SUSPENDED", 0) + \
            types.get("ACCOUNT_ARCHIVED", 0)
        assert types.get("ACCOUNT_SUSPENDED") and \
            types.get("ACCOUNT_ARCHIVED"), types
        wait_for("passed counted",
                 lambda: f.counter("se-count") >= N - bad, WAIT, 0.2)
        wait_done(f, ["se", "se-types"])
        assert f.counter("se-count") == N - bad, (f.counter("se-count"), bad)
        s = app_instance(f, "se", "script")
        assert s["in"] == N and s["out"] == N - bad, s
        assert s["errors"] == bad, (s, bad)
        last = s["lastError"]
        # flowd shortens long paths in the message it keeps.
        assert ("failing.lua:4: no suspensions here" in last or
                "instruction budget exceeded" in last), last


def test_load_error():
    with ScriptDir() as d, Flowd("--allow-path", d.path) as f:
        path = d.write("broken.lua", "function process(ev)\n  return ev\n")
        f.create("sl", f"time | script --script={path} | log", deploy=False)
        f.json("POST", "/streams/deployments/sl", {}, expect=202)

        def logged():
            rc, out, err = flowctl(f, "logs", "sl", "script")
            # Lua shortens a long chunk name to its end.
            return "broken.lua:3: 'end' expected" in out and out
        out = wait_for("the Lua message in the log", logged, 60, 0.5)
        assert "cannot load the script" in out, out
        wait_for("exit status 2",
                 lambda: "[sl.script-0] exit status 2" in f.read_log(), 60)


COUNTING = """\
local n = 0
function process(ev) n = n + 1; ev.payload.n = n; return ev end
function snapshot() return "n=" .. n end
function restore(s) n = tonumber(assert(s:match("^n=(%d+)$"))) end
"""


def run_by_hand(commands, timeout=120):
    """Starts the commands (argv lists; the first ones the consumers),
    waits for them all to exit 0 and returns the first one's stdout."""
    procs = []
    try:
        for i, argv in enumerate(commands):
            procs.append(subprocess.Popen(
                argv, stdout=subprocess.PIPE if i == 0 else None))
        out, _ = procs[0].communicate(timeout=timeout)
        for p in procs:
            assert p.wait(timeout=60) == 0, p.args
        return out
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_error_output():
    n = 5000
    with ScriptDir() as d:
        script = d.write("failing.lua", FAILING)
        ep = f"ipc://{d.path}"
        load = [os.path.join(APPS, "flow-load-sim"), f"--count={n}",
                "--seed=1", "--rate=0"]
        fvc_app = os.path.join(APPS, "flow-field-value-counter")
        types = json.loads(run_by_hand([
            [fvc_app, "--field-name=type", f"--flow.input={ep}/t",
             "--flow.eos-exit=1"],
            load + [f"--flow.output={ep}/t"]]))["values"]
        errors = json.loads(run_by_hand([
            [fvc_app, "--field-name=error", f"--flow.input={ep}/err",
             "--flow.eos-exit=1"],
            [os.path.join(APPS, "flow-counter"), f"--flow.input={ep}/b",
             "--flow.eos-exit=1"],
            [os.path.join(APPS, "flow-script"), f"--script={script}",
             "--max-instructions=20000", f"--flow.input={ep}/a",
             f"--flow.output={ep}/b", f"--flow.error-output={ep}/err",
             "--flow.eos-exit=1"],
            load + [f"--flow.output={ep}/a"]]))["values"]
        assert len(errors) == 2, errors
        raised = [c for m, c in errors.items()
                  if m.startswith("process(event): ")
                  and m.endswith("failing.lua:4: no suspensions here")]
        budget = [c for m, c in errors.items()
                  if m.startswith("process(event): ")
                  and "failing.lua:6: instruction budget exceeded: the "
                  "script ran more than 20000 instructions" in m]
        assert raised == [types["ACCOUNT_SUSPENDED"]], (errors, types)
        assert budget == [types["ACCOUNT_ARCHIVED"]], (errors, types)


def test_state():
    """Two runs of load-sim --count=1000 | script | field-value-counter of
    the script's running count n: the second run goes on from 1000."""
    with ScriptDir() as d:
        script = d.write("counting.lua", COUNTING)
        state = os.path.join(d.path, "state.bin")
        for run_no in (1, 2):
            procs = []
            try:
                fvc_p = subprocess.Popen(
                    [os.path.join(APPS, "flow-field-value-counter"),
                     "--field-name=n", f"--flow.input=ipc://{d.path}/b",
                     "--flow.eos-exit=1"], stdout=subprocess.PIPE)
                procs.append(fvc_p)
                procs.append(subprocess.Popen(
                    [os.path.join(APPS, "flow-script"), f"--script={script}",
                     f"--flow.state={state}",
                     f"--flow.input=ipc://{d.path}/a",
                     f"--flow.output=ipc://{d.path}/b",
                     "--flow.eos-exit=1"]))
                procs.append(subprocess.Popen(
                    [os.path.join(APPS, "flow-load-sim"), "--count=1000",
                     "--rate=0", f"--flow.output=ipc://{d.path}/a"]))
                out, _ = fvc_p.communicate(timeout=120)
                for p in procs:
                    assert p.wait(timeout=60) == 0, p.args
            finally:
                for p in procs:
                    if p.poll() is None:
                        p.kill()
                        p.wait()
            values = json.loads(out)["values"]
            first = (run_no - 1) * 1000 + 1
            assert sorted(map(int, values)) == list(
                range(first, first + 1000)), (run_no, sorted(values)[:5])
            with open(state) as fh:
                assert fh.read() == f"n={run_no * 1000}"


TESTS = {
    "file": test_file,
    "text": test_text,
    "errors": test_errors,
    "load_error": test_load_error,
    "state": test_state,
    "error_output": test_error_output,
}

if __name__ == "__main__":
    run(TESTS)
