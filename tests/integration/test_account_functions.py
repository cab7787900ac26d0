#!/usr/bin/python3
"""The account actions as functions (examples/account-functions) against
account-events: streams/account-functions.flow's function app, its
library registered with flowctl, and account-events each fold the same
load-sim events (illegal ones among them), and their applied events must
be equal event for event: the same events in the same order, each with
the same state and balance. The stream of the file also runs as it is,
and its state counts equal account-events'.

Run one test: test_account_functions.py NAME; all: test_account_functions.py.
"""

import json
import os
import re
import shutil
import tempfile
import time

from flowd_harness import AppsDir, Flowd, flowctl, run, wait_for

LIB = os.environ["FLOW_IT_ACCOUNT_ACTIONS"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
N = 40000
N_FILE = 4000  # the file's stream as it is, at its own rate


def stream_file(name):
    """The entries of streams/NAME, name -> definition."""
    entries, cur = {}, None
    with open(os.path.join(ROOT, "streams", name)) as fh:
        for line in fh:
            if line.lstrip().startswith("#") or not line.strip():
                continue
            m = re.match(r"^([a-z][a-z0-9-]*)\s*=\s*(.*)$", line)
            if m:
                cur = m.group(1)
                entries[cur] = m.group(2).strip()
            elif line[0] in " \t" and cur:
                entries[cur] += " " + line.strip()
    return entries


def lines_of(path):
    """The events of a file sink's JSON lines, without load-sim's ts (the
    wall clock of each run)."""
    def event(line):
        e = json.loads(line)
        e.pop("ts", None)
        return e
    try:
        with open(path) as fh:
            return [event(x) for x in fh if x.endswith("\n")]
    except FileNotFoundError:
        return []


def fvc(f, name):
    st, _, body = f.request("GET", f"/metrics/field-value-counters/{name}")
    return json.loads(body)["values"] if st == 200 else {}


def test_equal_to_account_events():
    tmp = tempfile.mkdtemp(prefix="acctfn")
    try:
        with AppsDir() as d, Flowd("--apps-dir", d, "--allow-path",
                                   tmp) as f:
            lib = os.path.join(d, os.path.basename(LIB))
            shutil.copyfile(LIB, lib)
            os.chmod(lib, 0o755)
            rc, out, err = flowctl(f, "function", "register",
                                   "account-actions", "--library", lib)
            assert rc == 0, (rc, out, err)
            defn = stream_file("account-functions.flow")["account-functions"]
            src, fn, sink = [p.strip() for p in defn.split(" | ")]
            assert fn.startswith("function --library=@account-actions "
                                 "--action-expression=payload.type"), fn
            # The same events, at their own pace: the source of the file
            # with a count and no rate limit.
            src += f" --count={N} --rate=0"
            f.create("fn", f"{src} | {fn} | file --directory={tmp} "
                     "--name=fn --suffix=json")
            f.create("ae", f"{src} | account-events | file "
                     f"--directory={tmp} --name=ae --suffix=json")
            f.create("ae-states", src.replace(f"--count={N}",
                                              f"--count={N_FILE}") +
                     " | account-events | field-value-counter "
                     "--field-name=state --name=ae-states")
            f.create("account-functions", defn.replace(
                "load-sim ", f"load-sim --count={N_FILE} ", 1))
            for s in ("fn", "ae", "ae-states", "account-functions"):
                f.deploy(s)
            want_n = {}

            def done():
                for s in ("fn", "ae"):
                    ins = [i for i in f.instances(s)
                           if i["label"] == ("function" if s == "fn"
                                             else "account-events")]
                    if not ins or ins[0]["in"] < N:
                        return False
                    want_n[s] = ins[0]["out"]
                return all(len(lines_of(f"{tmp}/{s}.json")) >= want_n[s]
                           for s in ("fn", "ae"))
            wait_for(f"{N} events through both", done, timeout=180,
                     interval=0.2)
            time.sleep(1.5)
            got = lines_of(f"{tmp}/fn.json")
            want = lines_of(f"{tmp}/ae.json")
            assert 0 < len(want) < N, len(want)  # some were illegal
            assert len(got) == len(want), (len(got), len(want))
            for k, (g, w) in enumerate(zip(got, want)):
                assert g == w, f"event {k} differs: {g} != {w}"
            # The illegal ones went to each error output, the same number.
            i_fn = [i for i in f.instances("fn") if i["label"] == "function"]
            i_ae = [i for i in f.instances("ae")
                    if i["label"] == "account-events"]
            assert i_fn[0]["errors"] == i_ae[0]["errors"] > 0, (i_fn, i_ae)
            # The stream of the file as it is counts the same states as
            # account-events over its first N_FILE events.
            def counted(stream, label, counter):
                ins = [i for i in f.instances(stream) if i["label"] == label]
                return ins and ins[0]["in"] == N_FILE and \
                    sum(fvc(f, counter).values()) == ins[0]["out"]
            wait_for("the file's stream counted", lambda: counted(
                "account-functions", "function", "account-functions-states")
                and counted("ae-states", "account-events", "ae-states"),
                timeout=120, interval=0.2)
            time.sleep(2.5)  # more report periods: nothing counted twice
            got_states = fvc(f, "account-functions-states")
            assert got_states == fvc(f, "ae-states"), (
                got_states, fvc(f, "ae-states"))
            assert sum(got_states.values()) > 0.9 * N_FILE, got_states
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


TESTS = {
    "equal_to_account_events": test_equal_to_account_events,
}

if __name__ == "__main__":
    run(TESTS)
