#!/usr/bin/python3
"""Keyed streams: real flowd and apps. An app with several instances gets
a lane of its own from each instance of the app before it, and with
app.<label>.partition-key=key every account's events reach one instance:
account-events, which rejects the events of an account it never saw
created, then rejects nothing, and the counter counts every event once.
Without the key the lanes are dealt whole batches in turn, and the
instances reject (the case the key is for). `flowctl scale` of the
consumer gives the producer an output of the new lane count.

Run one test: test_keyed.py NAME; all: test_keyed.py.
"""

import time

from flowd_harness import Flowd, flowctl, run, wait_for

N = 200000


def demo(name, n, rate=0):
    return (f"load-sim --count={n} --rate={rate} --seed=1 "
            f"--illegal-ratio=0 | account-events | counter --name={name}")


def label_instances(f, stream, label):
    return sorted((i for i in f.instances(stream) if i["label"] == label),
                  key=lambda i: i["index"])


def source_output(f, stream):
    src = label_instances(f, stream, "load-sim")
    assert len(src) == 1, src
    return src[0]["endpoints"]["output"]


def test_keyed_instances_reject_nothing():
    """Three account-events instances keyed by the event's key: each sees
    only its own accounts, so none rejects an event, and the counter
    counts exactly what load-sim sent."""
    with Flowd() as f:
        f.create("keyed", demo("keyed-n", N))
        f.deploy("keyed", {"deployer.account-events.count": "3",
                           "app.account-events.partition-key": "key"})
        # One lane per account-events instance, in the source's output.
        out = source_output(f, "keyed")
        assert len(out) == 1 and out[0].count("|") == 2, out
        wait_for("all counted", lambda: f.counter("keyed-n") >= N,
                 timeout=240, interval=0.5)
        wait_for("every instance reported all it received", lambda: sum(
            i["in"] for i in label_instances(f, "keyed", "account-events"))
            == N, timeout=60)
        # Two more report periods: nothing may be counted twice.
        time.sleep(2.5)
        assert f.counter("keyed-n") == N, f.counter("keyed-n")
        ae = label_instances(f, "keyed", "account-events")
        assert len(ae) == 3, ae
        # Instance j reads lane j.
        lanes = out[0].split("|")
        for j, i in enumerate(ae):
            assert i["endpoints"]["input"] == [lanes[j]], (j, i["endpoints"])
        for i in ae:
            assert i["errors"] == 0, i
            assert i["in"] > 0, i
            assert i["fenced"] == 0 and i["drops"] == 0, i
        assert sum(i["in"] for i in ae) == N, [i["in"] for i in ae]
        assert sum(i["out"] for i in ae) == N, [i["out"] for i in ae]


def test_unkeyed_instances_reject():
    """The same stream without the key: the lanes take whole batches in
    turn, so an instance gets events of accounts created on another, and
    rejects them; every event still reaches exactly one instance."""
    n = 20000
    with Flowd() as f:
        f.create("unkeyed", demo("unkeyed-n", n))
        f.deploy("unkeyed", {"deployer.account-events.count": "3"})
        out = source_output(f, "unkeyed")
        assert out[0].count("|") == 2, out
        wait_for("all received", lambda: sum(
            i["in"] for i in label_instances(f, "unkeyed", "account-events"))
            == n, timeout=120)
        ae = label_instances(f, "unkeyed", "account-events")
        assert all(i["in"] > 0 for i in ae), [i["in"] for i in ae]
        assert sum(i["errors"] for i in ae) > 0, ae


def test_scale_relanes():
    """flowctl scale of the consumer: the source's output is replaced by
    one of the new lane count, and every new instance gets events."""
    with Flowd() as f:
        f.create("grow", demo("grow-n", 0, rate=5000))
        f.deploy("grow", {"app.account-events.partition-key": "key"})
        f.wait_status("grow", "deployed", timeout=30)
        assert "|" not in source_output(f, "grow")[0]
        wait_for("counting", lambda: f.counter("grow-n") > 0, timeout=60)
        rc, out, err = flowctl(f, "scale", "grow", "account-events", "3")
        assert rc == 0, (out, err)
        wait_for("three lanes", lambda: source_output(f, "grow")[0].count(
            "|") == 2, timeout=30)
        wait_for("three instances fed", lambda: len([
            i for i in label_instances(f, "grow", "account-events")
            if i["in"] > 0]) == 3, timeout=60)
        rc, out, err = flowctl(f, "scale", "grow", "account-events", "2")
        assert rc == 0, (out, err)
        wait_for("two lanes", lambda: source_output(f, "grow")[0].count(
            "|") == 1, timeout=30)
        # Both remaining instances keep receiving.
        before = [i["in"] for i in label_instances(f, "grow",
                                                   "account-events")][:2]
        wait_for("two instances fed", lambda: all(
            i["in"] > b for i, b in zip(
                label_instances(f, "grow", "account-events")[:2], before)),
            timeout=60)


def test_keyed_by_expression():
    """app.<label>.partition-key-expression, as SCDF spells it: the same
    routing by the text of an expression over the payload (the account
    id), so again no instance rejects an event; a bad expression is
    refused at deploy with its offset."""
    n = 50000
    with Flowd() as f:
        f.create("kexpr", demo("kexpr-n", n))
        st, _, body = f.request(
            "POST", "/streams/deployments/kexpr",
            {"deployer.account-events.count": "2",
             "app.account-events.partition-key-expression": "payload.("})
        assert st == 400 and b"partition-key-expression" in body and \
            b"bad expression at byte" in body, (st, body)
        f.deploy("kexpr", {"deployer.account-events.count": "3",
                           "app.account-events.partition-key-expression":
                           "payload.account"})
        wait_for("all counted", lambda: f.counter("kexpr-n") >= n,
                 timeout=240, interval=0.5)
        wait_for("every instance reported all it received", lambda: sum(
            i["in"] for i in label_instances(f, "kexpr", "account-events"))
            == n, timeout=60)
        ae = label_instances(f, "kexpr", "account-events")
        assert len(ae) == 3, ae
        for i in ae:
            assert i["errors"] == 0 and i["in"] > 0, i
        time.sleep(2.5)
        assert f.counter("kexpr-n") == n, f.counter("kexpr-n")


TESTS = {
    "keyed_by_expression": test_keyed_by_expression,
    "keyed_instances_reject_nothing": test_keyed_instances_reject_nothing,
    "unkeyed_instances_reject": test_unkeyed_instances_reject,
    "scale_relanes": test_scale_relanes,
}

if __name__ == "__main__":
    run(TESTS)
