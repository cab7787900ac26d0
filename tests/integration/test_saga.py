#!/usr/bin/python3
"""The order saga of streams/orders.flow (docs/apps.md "The order saga"),
deployed as that file wires it, with exactly-once file sinks of :orders
and :order-commands as the order log:

- outcomes_of_seed: a small run without a guarantee; the counters, the
  cancellations by reason and the log's outcomes equal what order-sim's
  seed gives (saga_check.expected), and the log keeps every invariant.
- invariants_under_kill9: 100,000 orders exactly once while order,
  inventory and payment are each killed with kill -9 twice; then the log
  keeps every invariant (saga_check.check) and the counters equal the
  log's exact outcome counts. It is skipped (exit 77) while WAITS_FOR
  names what it waits for.

Run one test: test_saga.py NAME; all: test_saga.py.
"""

import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time

from flowd_harness import Flowd, run, wait_for

import saga_check

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SAGA = ("orders-sim", "orders", "inventory", "payment")
COUNTERS = ("orders-started", "orders-completed", "orders-cancelled",
            "orders-compensated",
            "orders-cancelled-by-reason")


def entries():
    """The entries of streams/orders.flow, name -> definition."""
    out, name = {}, None
    with open(os.path.join(ROOT, "streams", "orders.flow")) as fh:
        for line in fh:
            if line.lstrip().startswith("#") or not line.strip():
                continue
            m = re.match(r"^([a-z][a-z0-9-]*)\s*=\s*(.*)$", line)
            if m:
                name = m.group(1)
                out[name] = m.group(2).strip()
            elif line[0] in " \t" and name:
                out[name] += " " + line.strip()
    return out


def with_options(definition, opts):
    """definition with each --NAME=VALUE of opts (present in it) set."""
    for k, v in opts.items():
        definition, n = re.subn(rf"--{k}=[^ ]*", f"--{k}={v}", definition)
        assert n == 1, (k, definition)
    return definition


class Run:
    """The saga's parameters and the streams of orders.flow made from
    them, plus the two log streams."""

    def __init__(self, orders, rate, seed, accounts, skus, failure, oos,
                 funds, stock):
        self.orders, self.seed = orders, seed
        self.accounts, self.skus, self.failure, self.oos = \
            accounts, skus, failure, oos
        self.funds, self.stock = funds, stock
        e = entries()
        assert set(SAGA + COUNTERS) == set(e), sorted(e)
        e["orders-sim"] = with_options(e["orders-sim"], {
            "orders": orders, "rate": rate, "seed": seed,
            "accounts": accounts, "skus": skus,
            "payment-failure-ratio": failure, "out-of-stock-ratio": oos})
        e["inventory"] = with_options(e["inventory"],
                                      {"skus": skus, "stock": stock})
        e["payment"] = with_options(e["payment"],
                                    {"accounts": accounts, "funds": funds})
        self.defs = e
        self.dir = tempfile.mkdtemp(prefix="saga-log-")
        self.defs["orders-log"] = (f":orders > file --directory={self.dir} "
                                   f"--name=orders --suffix=jsonl")
        self.defs["commands-log"] = (f":order-commands > file "
                                     f"--directory={self.dir} "
                                     f"--name=order-commands --suffix=jsonl")

    def deploy(self, f, props=None):
        """Without a guarantee, the readers of the destinations first and
        the order-sim last, so that no event goes out before its readers
        are there. Under one, the order-sim before the cycle: a region
        replays from its source whenever a stream joins it, and a cycle
        deployed before its source has no source to checkpoint from."""
        order = list(COUNTERS) + ["orders-log", "commands-log", "payment",
                                  "inventory", "orders", "orders-sim"]
        if props and props.get("flow.guarantee") == "none":
            for name in order:
                f.create(name, self.defs[name])
            for name in order[:-1]:
                f.deploy(name, props)
            for name in order[:-1]:
                f.wait_status(name, "deployed", timeout=60)
            f.deploy("orders-sim", props)
            return
        order = list(COUNTERS) + ["orders-log", "commands-log", "orders-sim",
                                  "orders", "inventory", "payment"]
        for name in order:
            f.create(name, self.defs[name])
            f.deploy(name, props)
            f.wait_status(name, "deployed", timeout=60)

    def log(self):
        return saga_check.read_log(
            os.path.join(self.dir, "orders.jsonl"),
            os.path.join(self.dir, "order-commands.jsonl"))

    def expected(self):
        return saga_check.expected(self.seed, self.orders, self.accounts,
                                   self.skus, self.failure, self.oos,
                                   self.funds)

    def check(self, events):
        return saga_check.check(events, orders=self.orders, skus=self.skus,
                                stock=self.stock)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def reasons(f):
    st, _, body = f.request(
        "GET", "/metrics/field-value-counters/orders-cancelled-by-reason")
    return json.loads(body)["values"] if st == 200 else {}


def counts(f):
    return {"completed": f.counter("orders-completed"),
            "cancelled": f.counter("orders-cancelled"),
            "reasons": reasons(f)}


def check_compensated(f, events):
    """orders-compensated counts the cancellations that released a
    reservation: exactly those a failed payment caused."""
    log = sum(1 for e in events if e.get("type") == "OrderCancelled"
              and e.get("compensated") is True)
    by_payment = sum(1 for e in events if e.get("type") == "OrderCancelled"
                     and e.get("reason") in ("declined", "insufficient-funds"))
    assert log == by_payment, (log, by_payment)
    assert f.counter("orders-compensated") == log, (
        f.counter("orders-compensated"), log)


def wait_ended(f, r, timeout):
    """Waits for every order to have ended in the counters and in the
    log; returns the log."""
    try:
        wait_for("every order started", lambda: f.counter(
            "orders-started") >= r.orders, timeout=timeout, interval=0.5)
        wait_for("every order ended", lambda: f.counter(
            "orders-completed") + f.counter("orders-cancelled") >=
            r.orders, timeout=timeout, interval=0.5)
    except AssertionError as e:
        raise AssertionError(
            f"{e}: started {f.counter('orders-started')}, {counts(f)}; "
            f"checkpoint {f.get('/streams/deployments/orders').get('checkpoint')}"
            f"; flowd log: {f.read_log()[-4000:]}") from None
    wait_for("every order ended in the log", lambda: sum(
        saga_check.outcomes(r.log())[k] for k in ("completed", "cancelled"))
        >= r.orders, timeout=60, interval=1)
    time.sleep(3)  # three more report periods: nothing counted twice
    return r.log()


def test_outcomes_of_seed():
    """4,000 orders without a guarantee: out-of-stock skus, declined cards
    and accounts that run out of funds (20 accounts of 400,000 each) give
    exactly the outcomes the seed implies."""
    r = Run(orders=4000, rate=2000, seed=7, accounts=20, skus=10,
            failure=0.1, oos=0.1, funds=400000, stock=1000000)
    want = r.expected()
    for reason in ("out-of-stock", "declined", "insufficient-funds"):
        assert want["reasons"].get(reason, 0) > 100, want
    try:
        with Flowd("--allow-path", r.dir) as f:
            r.deploy(f, {"flow.guarantee": "none"})
            events = wait_ended(f, r, timeout=120)
            assert f.counter("orders-started") == r.orders
            assert counts(f) == want, (counts(f), want)
            check_compensated(f, events)
            assert saga_check.outcomes(events) == want, (
                saga_check.outcomes(events), want)
            bad = r.check(events)
            assert not bad, bad[:20]
    finally:
        r.cleanup()


# What invariants_under_kill9 waits for, or None when it runs.
WAITS_FOR = None


def pid_of(f, stream, label):
    for i in f.instances(stream):
        if i["label"] == label and i.get("pid") and \
                i["state"] in ("deployed", "deploying"):
            return i["pid"]
    return None


def wait_pid(f, stream, label, not_pid=None, timeout=60):
    return wait_for(f"{stream}.{label} running", lambda: (
        (p := pid_of(f, stream, label)) and p != not_pid and p), timeout)


def test_invariants_under_kill9():
    """100,000 orders exactly once; order, inventory and payment each
    killed with kill -9 twice while they run. Every order ends, the log
    keeps the invariants, and the counters equal its outcomes."""
    if WAITS_FOR:
        print(f"SKIP invariants_under_kill9: waits for {WAITS_FOR}",
              flush=True)
        sys.exit(77)
    r = Run(orders=100000, rate=5000, seed=23, accounts=500, skus=50,
            failure=0.05, oos=0.05, funds=1000000, stock=10000000)
    victims = [("orders", "order"), ("inventory", "inventory"),
               ("payment", "payment")] * 2
    random.Random(23).shuffle(victims)
    try:
        with Flowd("--allow-path", r.dir) as f:
            r.deploy(f)
            # The whole region keeps exactly-once: order-sim replays by
            # its seed, so nothing caps it (an unreplayable source would
            # cap it at at-least-once, and the log would hold repeats).
            for name in SAGA + ("orders-log", "commands-log"):
                dep = f.get(f"/streams/deployments/{name}")
                assert dep["guarantee"] == "exactly-once", (name, dep)
            for k, (stream, label) in enumerate(victims):
                at = (k + 1) * r.orders // (len(victims) + 2)
                wait_for(f"{at} orders started", lambda at=at: f.counter(
                    "orders-started") >= at, timeout=120, interval=0.1)
                victim = wait_pid(f, stream, label)
                os.kill(victim, signal.SIGKILL)
                wait_pid(f, stream, label, not_pid=victim)
            events = wait_ended(f, r, timeout=180)
            got = saga_check.outcomes(events)
            assert got["completed"] + got["cancelled"] == r.orders, got
            assert f.counter("orders-started") == r.orders
            assert counts(f) == got, (counts(f), got)
            check_compensated(f, events)
            bad = r.check(events)
            assert not bad, bad[:20]
    finally:
        r.cleanup()


TESTS = {
    "outcomes_of_seed": test_outcomes_of_seed,
    "invariants_under_kill9": test_invariants_under_kill9,
}

if __name__ == "__main__":
    run(TESTS)
