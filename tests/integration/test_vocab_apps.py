#!/usr/bin/python3
"""Integration tests of the vocabulary apps through flowd, with exact
counts against a field-value-counter of type over the same load-sim
events: counter --name-expression (one counter per type), splitter over a
transform that makes a list, header-enricher setting the key, and a
router to two destinations read by streams deployed before and after it.

Run one test: test_vocab_apps.py NAME; all: test_vocab_apps.py.
"""

import glob
import json
import os
import time

from flowd_harness import Flowd, run, wait_for
from test_expr_apps import examples


def fvc(f, name):
    st, _, body = f.request("GET", f"/metrics/field-value-counters/{name}")
    return json.loads(body)["values"] if st == 200 else {}


def completed(f, streams, label="load-sim"):
    """The sources of streams finished; two more report periods so that
    nothing is counted late."""
    wait_for("sources completed", lambda: all(
        i["state"] == "completed" for s in streams
        for i in f.instances(s) if i["label"] == label), timeout=180,
        interval=0.2)
    time.sleep(2.5)


def types_of(f, n, seed):
    """The per-type counts of n load-sim events of seed, counted by a
    field-value-counter of type in a stream of their own."""
    f.create("types", f"load-sim --count={n} --rate=0 --seed={seed} | "
             "field-value-counter --field-name=type --name=types",
             deploy=True)
    wait_for("types counted", lambda: sum(fvc(f, "types").values()) >= n,
             timeout=180, interval=0.2)
    completed(f, ["types"])
    types = fvc(f, "types")
    assert sum(types.values()) == n and len(types) > 2, types
    return types


def test_name_expression_counter():
    """counter --name-expression=payload.type over 100,000 events keeps
    one counter per type, each equal to the field-value-counter's count of
    that type for the same seed."""
    n = 100000
    with Flowd() as f:
        f.create("named", f"load-sim --count={n} --rate=0 --seed=1 | "
                 "counter --name-expression=payload.type", deploy=True)
        types = types_of(f, n, 1)
        wait_for("counters", lambda: sum(f.counter(t) for t in types) >= n,
                 timeout=120, interval=0.5)
        completed(f, ["named"])
        got = {t: f.counter(t) for t in types}
        assert got == types, (got, types)
        names = {c["name"] for c in f.get("/metrics/counters?size=1000")[
            "_embedded"]["counterResourceList"]}
        assert names == set(types), names


def test_splitter_over_a_list():
    """transform makes each payload a list [type, 'x']; splitter makes two
    events of each, wrapped with their sequence: the values counted are
    the types and n times 'x', and sequenceNumber is 1 and 2 n times."""
    n = 20000
    with Flowd() as f:
        f.create("split", f"load-sim --count={n} --rate=0 --seed=3 | "
                 "transform --expression=\"{payload.type, 'x'}\" | "
                 "splitter | field-value-counter --field-name=value "
                 "--name=split", deploy=True)
        f.create("seq", f"load-sim --count={n} --rate=0 --seed=3 | "
                 "transform --expression=\"{payload.type, 'x'}\" | "
                 "splitter | field-value-counter "
                 "--field-name=\"'' + payload.sequenceNumber + '/' + "
                 "payload.sequenceSize\" --name=seq", deploy=True)
        types = types_of(f, n, 3)
        wait_for("split counted", lambda: sum(fvc(f, "split").values())
                 >= 2 * n and sum(fvc(f, "seq").values()) >= 2 * n,
                 timeout=120, interval=0.5)
        completed(f, ["split", "seq"])
        want = dict(types, x=n)
        assert fvc(f, "split") == want, (fvc(f, "split"), want)
        assert fvc(f, "seq") == {"1/2": n, "2/2": n}, fvc(f, "seq")
        sp = [i for i in f.instances("split") if i["label"] == "splitter"]
        assert sp[0]["in"] == n and sp[0]["out"] == 2 * n, sp


def test_header_enricher_key():
    """header-enricher sets the key to the lower-cased type and the type
    to 'E'; field-value-counters of the headers (expressions in
    --field-name) count each key as often as its type, and all as E."""
    n = 20000
    with Flowd() as f:
        f.create("keyed", f"load-sim --count={n} --rate=0 --seed=4 | "
                 "header-enricher --headers.key=payload.type.toLowerCase() "
                 "--headers.type=\"'E'\" | field-value-counter "
                 "--field-name=headers.key --name=keys", deploy=True)
        f.create("typed", f"load-sim --count={n} --rate=0 --seed=4 | "
                 "header-enricher --headers.type=\"'E'\" | "
                 "field-value-counter --field-name=headers.type "
                 "--name=htypes", deploy=True)
        types = types_of(f, n, 4)
        wait_for("keys counted", lambda: sum(fvc(f, "keys").values()) >= n
                 and sum(fvc(f, "htypes").values()) >= n, timeout=120,
                 interval=0.5)
        completed(f, ["keyed", "typed"])
        want = {t.lower(): c for t, c in types.items()}
        assert fvc(f, "keys") == want, (fvc(f, "keys"), want)
        assert fvc(f, "htypes") == {"E": n}, fvc(f, "htypes")


def test_router_two_destinations():
    """A router sends ACCOUNT_DEPOSITED to :deposits and the rest to
    :others (its default). The stream reading :deposits is deployed before
    the router's, the one reading :others after: their counts sum to the
    total and match the types. REST shows the router's destinations. A
    router without a default sends the unmapped events to the error
    output."""
    n = 50000
    with Flowd() as f:
        f.create("dep", ":deposits > field-value-counter --field-name=type "
                 "--name=dep", deploy=True)
        f.create("routed", f"load-sim --count={n} --rate=0 --seed=5 | "
                 "router --expression=payload.type "
                 "--destination-mappings=ACCOUNT_DEPOSITED:deposits "
                 "--default-output-channel=others")
        f.deploy("routed", {"deployer.router.count": "2"})
        app = [a for a in f.get("/streams/deployments/routed")["apps"]
               if a["label"] == "router"][0]
        assert app["destinations"] == ["deposits", "others"], app
        time.sleep(1)
        f.create("oth", ":others > field-value-counter --field-name=type "
                 "--name=oth", deploy=True)
        types = types_of(f, n, 5)
        wait_for("routed counted", lambda: sum(fvc(f, "dep").values()) +
                 sum(fvc(f, "oth").values()) >= n, timeout=180,
                 interval=0.5)
        completed(f, ["routed"])
        dep, oth = fvc(f, "dep"), fvc(f, "oth")
        assert dep == {"ACCOUNT_DEPOSITED": types["ACCOUNT_DEPOSITED"]}, dep
        rest = {t: c for t, c in types.items() if t != "ACCOUNT_DEPOSITED"}
        assert oth == rest, (oth, rest)
        assert sum(dep.values()) + sum(oth.values()) == n
        rs = [i for i in f.instances("routed") if i["label"] == "router"]
        assert len(rs) == 2, rs
        assert sum(r["in"] for r in rs) == n, rs
        assert sum(r["out"] for r in rs) == n, rs
        for r in rs:
            assert r["errors"] == 0, r
            groups = r["endpoints"]["outputGroups"]
            assert set(groups) == {"deposits:dep", "others:oth"}, groups

        # Undeploying a reader of a destination disconnects its group.
        f.json("DELETE", "/streams/deployments/oth")
        wait_for("others group gone", lambda: all(
            set(r["endpoints"]["outputGroups"]) == {"deposits:dep"}
            for r in f.instances("routed") if r["label"] == "router"),
            timeout=60, interval=0.2)

        # No default: what has no mapping is an error, with its reason.
        f.create("strict", f"load-sim --count={n} --rate=0 --seed=5 | "
                 "router --expression=payload.type "
                 "--destination-mappings=ACCOUNT_DEPOSITED:deposits",
                 deploy=True)
        completed(f, ["strict"])
        want = types["ACCOUNT_DEPOSITED"]
        wait_for("strict routed", lambda: fvc(f, "dep").get(
            "ACCOUNT_DEPOSITED", 0) >= 2 * want, timeout=120, interval=0.5)
        time.sleep(2.5)
        assert fvc(f, "dep") == {"ACCOUNT_DEPOSITED": 2 * want}, fvc(f, "dep")
        r = [i for i in f.instances("strict") if i["label"] == "router"][0]
        assert r["errors"] == n - want and r["out"] == want, r
        assert "no destination for 'ACCOUNT_" in r["lastError"], r


def test_examples():
    """The vocabulary examples of streams/examples.flow do what their
    comment says: time-parts logs the date and the time as two parts with
    their sequence; routed sends the deposits to deposit-count and the
    other types to one counter each."""
    ex = examples()
    with Flowd() as f:
        for name in ("deposit-count", "other-types", "routed",
                     "time-parts"):
            f.create(name, ex[name], deploy=True)
        logs = os.path.join(f.data_dir, "logs")

        def logged():
            lines = []
            for p in glob.glob(os.path.join(logs, "time-parts.log-*.log")):
                with open(p, errors="replace") as fh:
                    lines += [ln for ln in fh.read().splitlines()
                              if ln.startswith("{")]
            return lines
        wait_for("two parts logged", lambda: len(logged()) >= 2,
                 timeout=60, interval=0.2)
        first, second = (json.loads(ln) for ln in logged()[:2])
        assert (first["sequenceNumber"], first["sequenceSize"]) == (1, 2), \
            first
        assert (second["sequenceNumber"], second["sequenceSize"]) == (2, 2), \
            second
        assert first["value"].count("/") == 2, first
        assert second["value"].count(":") == 2, second

        def names():
            return {c["name"] for c in f.get("/metrics/counters?size=1000")[
                "_embedded"]["counterResourceList"]}
        wait_for("routed counted", lambda: "deposit-count" in names() and
                 len(names()) >= 3, timeout=90, interval=0.5)
        others = names() - {"deposit-count"}
        assert others and all(n.startswith("ACCOUNT_") and
                              n != "ACCOUNT_DEPOSITED" for n in others), others


TESTS = {
    "name_expression_counter": test_name_expression_counter,
    "splitter_over_a_list": test_splitter_over_a_list,
    "header_enricher_key": test_header_enricher_key,
    "router_two_destinations": test_router_two_destinations,
    "examples": test_examples,
}

if __name__ == "__main__":
    run(TESTS)
