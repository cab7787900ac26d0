#!/usr/bin/python3
"""Integration tests of the expression apps through flowd: filter and
transform in deployed streams, counted exactly against a
field-value-counter of the same load-sim events, the expression examples
of streams/examples.flow, and a bad expression refused at create time
with a caret under the spot.

Run one test: test_expr_apps.py NAME; all: test_expr_apps.py.
"""

import glob
import json
import os
import re
import time

from flowd_harness import Flowd, flowctl, run, wait_for

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def fvc(f, name):
    st, _, body = f.request("GET", f"/metrics/field-value-counters/{name}")
    return json.loads(body)["values"] if st == 200 else {}


def wait_completed(f, streams, n):
    """The sources of streams finished and their sinks saw what they
    will see; two more report periods so that nothing is counted late."""
    wait_for("sources completed", lambda: all(
        i["state"] == "completed" for s in streams
        for i in f.instances(s) if i["label"] == "load-sim"), timeout=180,
        interval=0.2)
    time.sleep(2.5)


def test_filter_count():
    """load-sim | filter type == ACCOUNT_DEPOSITED | counter counts exactly
    the ACCOUNT_DEPOSITED events a field-value-counter of type counts for
    the same seed, and the filter passed exactly that many."""
    n = 100000
    with Flowd() as f:
        f.create("deposits", f"load-sim --count={n} --rate=0 --seed=1 | "
                 "filter --expression=\"payload.type == 'ACCOUNT_DEPOSITED'\""
                 " | counter --name=deposits", deploy=True)
        f.create("types", f"load-sim --count={n} --rate=0 --seed=1 | "
                 "field-value-counter --field-name=type --name=types",
                 deploy=True)
        wait_for("all counted", lambda: sum(fvc(f, "types").values()) >= n,
                 timeout=180, interval=0.2)
        wait_completed(f, ("deposits", "types"), n)
        types = fvc(f, "types")
        assert sum(types.values()) == n, types
        want = types["ACCOUNT_DEPOSITED"]
        assert 0 < want < n, types
        wait_for("deposits counted", lambda: f.counter("deposits") >= want,
                 timeout=60)
        time.sleep(2.5)
        assert f.counter("deposits") == want, (f.counter("deposits"), want)
        filt = [i for i in f.instances("deposits") if i["label"] == "filter"]
        assert filt[0]["in"] == n and filt[0]["out"] == want, filt


def test_transform_set():
    """transform --set adds a field that a downstream field-value-counter
    sees: every event gets it, and its "big" count equals what a filter of
    the same condition passes."""
    n = 20000
    cond = "(payload.amount ?: 0) > 1000"
    with Flowd() as f:
        f.create("sized", f"load-sim --count={n} --rate=0 --seed=2 | "
                 f"transform --set.size=\"{cond} ? 'big' : 'small'\" "
                 "--set.type='payload.type.toLowerCase()' | "
                 "field-value-counter --field-name=size --name=sized",
                 deploy=True)
        f.create("kept", f"load-sim --count={n} --rate=0 --seed=2 | "
                 "transform --set.size=\"'x'\" | "
                 "field-value-counter --field-name=type --name=kept",
                 deploy=True)
        f.create("big", f"load-sim --count={n} --rate=0 --seed=2 | "
                 f"filter --expression=\"{cond}\" | counter --name=big",
                 deploy=True)
        wait_for("all counted", lambda: sum(fvc(f, "sized").values()) >= n
                 and sum(fvc(f, "kept").values()) >= n, timeout=180,
                 interval=0.2)
        wait_completed(f, ("sized", "kept", "big"), n)
        sized = fvc(f, "sized")
        assert sum(sized.values()) == n, sized
        assert set(sized) == {"big", "small"}, sized
        assert sized["big"] == f.counter("big"), (sized, f.counter("big"))
        # The fields --set does not name are kept as they were.
        kept = fvc(f, "kept")
        assert sum(kept.values()) == n, kept
        assert all(k.startswith("ACCOUNT_") for k in kept), kept


def test_bad_expression_refused():
    """A bad expression is refused at create time, by flowctl and the REST
    API, at its byte inside the definition, with a caret under it."""
    with Flowd() as f:
        definition = ("load-sim | filter --expression='payload.amount > "
                      "and true' | counter")
        rc, out, err = flowctl(f, "stream", "create", "bad", definition)
        assert rc == 1, (rc, out, err)
        spot = definition.index("and true")
        assert ("bad expression for option '--expression' of app 'filter': "
                "expected a value before 'and'") in err, err
        lines = err.splitlines()
        i = next(k for k, line in enumerate(lines) if definition in line)
        caret = lines[i + 1]
        col = lines[i].index(definition) + spot
        assert caret.rstrip().endswith("^") and \
            len(caret.rstrip()) - 1 == col, (lines[i], caret)
        st, _, body = f.request("POST", "/streams/definitions",
                                {"name": "bad", "definition": definition})
        assert st == 400, (st, body)
        errs = json.loads(body)["errors"]
        assert errs[0]["offset"] == spot, errs
        assert f.request("GET", "/streams/definitions/bad")[0] == 404
        # A quoted value with doubled quotes: the caret still lands on the
        # spot in the expression (here the unknown header).
        definition = ("time | filter --expression='payload == ''a'' or "
                      "headers.nope == 1' | log")
        st, _, body = f.request("POST", "/streams/definitions",
                                {"name": "bad2", "definition": definition})
        assert st == 400, (st, body)
        errs = json.loads(body)["errors"]
        assert errs[0]["offset"] == definition.index("nope"), errs
        assert "unknown header 'nope'" in errs[0]["message"], errs
        # --set.FIELD is checked too; a good expression is accepted.
        definition = "time | transform --set.x='1 +' | log"
        st, _, body = f.request("POST", "/streams/definitions",
                                {"name": "bad3", "definition": definition})
        assert st == 400, (st, body)
        errs = json.loads(body)["errors"]
        assert errs[0]["offset"] == definition.index("' |"), errs
        f.create("good", "time | transform --set.x='1 + 1' | log")


def examples():
    """The entries of streams/examples.flow, name -> definition."""
    entries, name = {}, None
    with open(os.path.join(ROOT, "streams", "examples.flow")) as fh:
        for line in fh:
            if line.lstrip().startswith("#") or not line.strip():
                continue
            m = re.match(r"^([a-z][a-z0-9-]*)\s*=\s*(.*)$", line)
            if m:
                name = m.group(1)
                entries[name] = m.group(2).strip()
            elif line[0] in " \t" and name:
                entries[name] += " " + line.strip()
    return entries


def test_examples():
    """The expression examples of streams/examples.flow do what their
    comments say: `payload > ''0''` logs true for the time source's
    string payload, and large-deposits counts only "big" and "huge"."""
    ex = examples()
    with Flowd() as f:
        f.create("quoted", ex["quoted"], deploy=True)
        f.create("large-deposits", ex["large-deposits"], deploy=True)
        logs = os.path.join(f.data_dir, "logs")

        def logged():
            text = ""
            for p in glob.glob(os.path.join(logs, "quoted.log-*.log")):
                with open(p, errors="replace") as fh:
                    text += fh.read()
            return text
        wait_for("quoted logs a line", lambda: "true" in logged(),
                 timeout=60, interval=0.2)
        lines = [ln for ln in logged().splitlines() if ln.strip()]
        assert lines and all(ln == "true" for ln in lines), lines
        wait_for("large deposits counted", lambda: sum(
            fvc(f, "large-deposits").values()) >= 5, timeout=90,
            interval=0.2)
        values = fvc(f, "large-deposits")
        assert set(values) <= {"big", "huge"} and values, values


TESTS = {
    "filter_count": test_filter_count,
    "transform_set": test_transform_set,
    "bad_expression_refused": test_bad_expression_refused,
    "examples": test_examples,
}

if __name__ == "__main__":
    run(TESTS)
