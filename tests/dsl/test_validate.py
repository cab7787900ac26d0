#!/usr/bin/env python3
"""Integration test: run the real `flowctl validate` as a user would.

usage: test_validate.py FLOWCTL REGISTRY_JSON SOURCE_ROOT
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

FLOWCTL, REGISTRY, ROOT = sys.argv[1:4]
failures = []


def run(*args, stdin=None):
    p = subprocess.run([FLOWCTL, *args], input=stdin, capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def main():
    tmp = tempfile.mkdtemp(prefix="flow-validate-")
    try:
        reg = ["--registry", REGISTRY]

        # Valid definition: exactly one JSON document, the shape.
        rc, out, err = run("validate", "-o", "json", *reg, "-e",
                           "s = :in --group=g > l: account-events "
                           "--max-accounts='10' > :out")
        check(rc == 0, "valid -e exits 0 (got %d: %s %s)" % (rc, out, err))
        doc = json.loads(out)
        check(doc == {"valid": True, "streams": [{
            "name": "s",
            "source": {"destination": "in", "options": {"group": "g"}},
            "apps": [
                {"name": "account-events", "label": "l",
                 "options": {"max-accounts": "10"}}],
            "sink": {"destination": "out"}}],
            "registry": {"source": "file", "file": REGISTRY}},
            "valid JSON shape: %s" % out)
        rc, out, err = run("validate", "-o", "json", *reg, "-e",
                           "time --date-format='yyyy ''MM''' | "
                           "log --expression=\"a|b\"")
        doc = json.loads(out)
        check(rc == 0 and doc["streams"][0]["name"] is None and
              doc["streams"][0]["source"] is None and
              doc["streams"][0]["sink"] is None and
              doc["streams"][0]["apps"][0]["options"] ==
              {"date-format": "yyyy 'MM'"} and
              doc["streams"][0]["apps"][1]["options"] ==
              {"expression": "a|b"}, "quotes resolved: %s" % out)

        # The global form of -o json works too.
        rc, out, _ = run("-o", "json", "validate", *reg, "-e", "time | log")
        check(rc == 0 and json.loads(out)["valid"] is True,
              "flowctl -o json validate")

        # Invalid: the first error first, with offset, line and column.
        rc, out, _ = run("validate", "-o", "json", *reg, "-e",
                         "time | cuonter --nme=1")
        check(rc == 1, "invalid -e exits 1 (got %d)" % rc)
        doc = json.loads(out)
        check(doc["valid"] is False, "valid is false")
        e = doc["errors"][0]
        check(e["offset"] == 7 and e["line"] == 1 and e["column"] == 8,
              "error position: %s" % e)
        check("did you mean 'counter'?" in e["message"],
              "suggestion: %s" % e["message"])
        check(set(e) == {"offset", "line", "column", "message"},
              "error keys for -e: %s" % sorted(e))

        # A syntax error, in JSON.
        rc, out, _ = run("validate", "-o", "json", *reg, "-e", "time | | log")
        doc = json.loads(out)
        check(rc == 1 and doc["errors"][0]["offset"] == 7,
              "syntax error offset: %s" % out)

        # Human output for a file: FILE:LINE:COL: error: MESSAGE, the line,
        # the caret.
        path = os.path.join(tmp, "bad.flow")
        with open(path, "w") as f:
            f.write("# comment\nok = time | log\nbad = time | log --level=WRN\n")
        rc, out, _ = run("validate", *reg, path)
        check(rc == 1, "bad file exits 1")
        want = ("%s:3:26: error: bad value 'WRN' for option '--level' of app "
                "'log': expected one of TRACE, DEBUG, INFO, WARN, ERROR; did "
                "you mean 'WARN'?\n"
                "bad = time | log --level=WRN\n"
                "                         ^\n" % path)
        check(out == want, "human output:\n%r\nwant\n%r" % (out, want))

        # JSON errors of file inputs name the file.
        rc, out, _ = run("validate", "-o", "json", *reg, path)
        doc = json.loads(out)
        check(doc["errors"][0].get("file") == path and
              doc["errors"][0]["line"] == 3, "file in JSON error: %s" % out)

        # Taps across files: a tap of a stream in another file is fine.
        a = os.path.join(tmp, "a.flow")
        b = os.path.join(tmp, "b.flow")
        with open(a, "w") as f:
            f.write("main = load-sim | account-events | counter\n")
        with open(b, "w") as f:
            f.write("tap = :main.account-events > log\n"
                    "bad = :main.nothing > log\n")
        rc, out, _ = run("validate", "-o", "json", *reg, a, b)
        doc = json.loads(out)
        check(rc == 1 and len(doc["errors"]) == 1 and
              "no app labelled 'nothing'" in doc["errors"][0]["message"],
              "cross-file taps: %s" % out)

        # Standard input.
        rc, out, _ = run("validate", *reg, "-", stdin="x = time | log\n")
        check(rc == 0 and "valid (1 stream)" in out, "stdin: %s" % out)

        # Usage errors exit 2 and say what is wrong.
        for args, what in [((), "nothing to validate"),
                           (("-e", "time | log", path), "not both"),
                           (("--bogus",), "unknown option"),
                           (("-o", "xml", "-e", "x"), "unknown output"),
                           (("-o", "yaml", "-e", "x"),
                            "-o yaml is for 'flowctl stream manifests'"),
                           (("-e",), "needs a definition"),
                           ((os.path.join(tmp, "missing.flow"),),
                            "cannot read")]:
            rc, out, err = run("validate", *reg, *args)
            check(rc == 2, "usage %r exits 2 (got %d)" % (args, rc))
            check(what in err, "usage %r says %r: %s" % (args, what, err))
        rc, out, err = run("validate", "--registry",
                           os.path.join(tmp, "nope.json"), "-e", "x")
        check(rc == 2, "missing registry exits 2")
        bad_reg = os.path.join(tmp, "reg.json")
        with open(bad_reg, "w") as f:
            f.write('[{"name": "x", "role": "middle"}]')
        rc, out, err = run("validate", "--registry", bad_reg, "-e", "x")
        check(rc == 2 and "role" in err, "bad registry: %s" % err)
        rc, out, _ = run("validate", "--help")
        check(rc == 0 and "usage: flowctl validate" in out, "--help")

        # Every file in streams/ passes against the real built-in apps.
        streams = os.path.join(ROOT, "streams")
        files = sorted(os.path.join(streams, n) for n in os.listdir(streams)
                       if n.endswith(".flow"))
        check(len(files) >= 2, "streams/ has the demo and the examples")
        rc, out, err = run("validate", "--offline", *files)
        check(rc == 0, "streams/ valid (%d): %s %s" % (rc, out, err))
        check("checked against the built-in apps (--offline)" in err,
              "says the built-in apps were used: %s" % err)
        check("structure only" not in err,
              "the built-in apps were described: %s" % err)
        rc, out, err = run("validate", "--offline", "-e", "time | cuonter")
        check(rc == 1 and "did you mean 'counter'?" in out,
              "real registry suggests: %s %s" % (out, err))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all flowctl validate checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
