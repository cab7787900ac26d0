#!/usr/bin/python3
"""Deployed taps and dead letters through a real flowd, counted exactly.

A deployed tap stream (`:S.L > ...`) reads an output group of the tapped
app, as a named destination's consumer does: it gets every event the app
sends from the moment its group was added, whichever stream is deployed
first, and slows the tapped app rather than lose one. Every app's error
output reaches the dead-letter destination `:S.L.errors`, whose consumers
get every rejected event with its reason.

load-sim is deterministic by seed: checker.loadsim_events says how many of
its events account-events rejects, so the counts are checked against the
source itself, not only against each other.

Run one test: test_taps_lossless.py NAME; all: test_taps_lossless.py.
"""

import os
import signal
import time

import checker
from flowd_harness import Flowd, run, wait_for


def app_inst(f, stream, label, index=0):
    return [i for i in f.instances(stream)
            if i["label"] == label and i["index"] == index][0]


def completed(f, stream, timeout=180):
    wait_for(f"{stream} completed", lambda: all(
        i["state"] == "completed" for i in f.instances(stream)
        if i["label"] == "load-sim"), timeout=timeout, interval=0.2)


def settle(f, names, want, timeout=60):
    """Waits until every counter of names reads want[name], then for two
    more report periods, and checks they still do (nothing counted
    twice)."""
    def reached():
        return all(f.counter(n) >= want[n] for n in names)
    try:
        wait_for("the counters reach their totals", reached,
                 timeout=timeout, interval=0.2)
    except Exception:
        raise AssertionError({n: (f.counter(n), want[n]) for n in names})
    time.sleep(2.5)
    got = {n: f.counter(n) for n in names}
    assert got == {n: want[n] for n in names}, (got, want)


def field_total(f, name):
    status, _, data = f.request("GET", f"/metrics/field-value-counters/{name}")
    if status == 404:
        return 0
    import json
    return sum(json.loads(data)["values"].values())


def output_groups(f, stream, label):
    return app_inst(f, stream, label)["endpoints"]["outputGroups"]


def log_of(f, stream, label, index=0):
    path = os.path.join(f.data_dir, "logs", f"{stream}.{label}-{index}.log")
    try:
        with open(path, errors="replace") as fh:
            return fh.read()
    except FileNotFoundError:
        return ""


def logged_events(f, stream, label):
    path = os.path.join(f.data_dir, "logs", f"{stream}.{label}-0.log")
    return checker.read_events(path) if os.path.exists(path) else []


def test_tap_first():
    """The demo's taps deployed before the stream they tap: event-types
    (on load-sim) counts exactly what accounts counts, and so does a
    counter tapping account-events."""
    n = 50000
    with Flowd() as f:
        f.create("accounts", f"load-sim --count={n} --rate=0 --seed=1 "
                 "--illegal-ratio=0 | account-events | "
                 "counter --name=account-load")
        f.create("event-types", ":accounts.load-sim > field-value-counter "
                 "--field-name=type --name=event-types", deploy=True)
        f.create("tapped-out", ":accounts.account-events > "
                 "counter --name=tapped-out", deploy=True)
        f.wait_status("event-types", "deployed")
        f.wait_status("tapped-out", "deployed")
        f.deploy("accounts")
        completed(f, "accounts")
        settle(f, ["account-load", "tapped-out"],
               {"account-load": n, "tapped-out": n})
        wait_for("event-types counted every event",
                 lambda: field_total(f, "event-types") >= n, timeout=30)
        assert field_total(f, "event-types") == n, field_total(
            f, "event-types")
        for label in ("load-sim", "account-events"):
            inst = app_inst(f, "accounts", label)
            assert inst["drops"] == 0, inst
            # Its tap stream's group, beside its own output.
            groups = output_groups(f, "accounts", label)
            want = "event-types" if label == "load-sim" else "tapped-out"
            assert list(groups) == [want], groups


def test_tap_after():
    """A tap deployed after the stream it taps, before events flow (the
    tapped stream reads a destination nobody writes yet), counts all of
    them; undeploying it removes its group and the tapped stream goes on."""
    n = 30000
    with Flowd() as f:
        f.create("late", ":late-in > account-events | "
                 "counter --name=late-load", deploy=True)
        f.wait_status("late", "deployed")
        f.create("late-tap", ":late.account-events > counter "
                 "--name=late-tap", deploy=True)
        f.wait_status("late-tap", "deployed")
        wait_for("the tap's group is on account-events", lambda: list(
            output_groups(f, "late", "account-events")) == ["late-tap"])
        f.create("late-src", f"load-sim --count={n} --rate=0 --seed=1 "
                 "--illegal-ratio=0 > :late-in", deploy=True)
        completed(f, "late-src")
        settle(f, ["late-load", "late-tap"], {"late-load": n, "late-tap": n})
        f.json("DELETE", "/streams/deployments/late-tap")
        wait_for("the tap's group is gone", lambda: output_groups(
            f, "late", "account-events") == {})
        group = os.path.join(f.data_dir, "run",
                             "late.account-events.0.to.late-tap")
        assert not os.path.exists(group), group
        # The tapped stream still runs, without the tap: account-events
        # reads another source's events (and skips them all as
        # duplicates, since their accounts' seqs start again from 1).
        # The new producer joins the region, which restarts from its last
        # complete checkpoint: account-events' own counts start again
        # from 0, its accounts are restored (so every event is a
        # duplicate), and the counters stay at n.
        f.create("late-src2", "load-sim --count=1000 --rate=0 --seed=2 "
                 "--illegal-ratio=0 > :late-in", deploy=True)
        completed(f, "late-src2")
        wait_for("account-events read them", lambda: app_inst(
            f, "late", "account-events")["in"] == 1000, timeout=30)
        out = app_inst(f, "late", "account-events")["out"]
        assert out == 0, out
        settle(f, ["late-load", "late-tap"], {"late-load": n, "late-tap": n})


def test_tap_removed():
    """A tap stream deployed first, so that its group is in the tapped
    app's command line, then undeployed: the app drops that group (were
    it kept, with no reader, the app would stall once it filled) and the
    tapped stream goes on counting every event."""
    with Flowd() as f:
        f.create("rm", ":rm-in > bridge | counter --name=rm-load")
        f.create("rm-tap", ":rm.bridge > counter --name=rm-tap", deploy=True)
        f.wait_status("rm-tap", "deployed")
        f.deploy("rm")
        f.wait_status("rm", "deployed")
        assert list(output_groups(f, "rm", "bridge")) == ["rm-tap"]
        f.create("rm-src", "load-sim --count=5000 --rate=0 > :rm-in",
                 deploy=True)
        settle(f, ["rm-load", "rm-tap"], {"rm-load": 5000, "rm-tap": 5000})
        f.json("DELETE", "/streams/deployments/rm-tap")
        wait_for("the tap's group is gone", lambda: output_groups(
            f, "rm", "bridge") == {})
        f.create("rm-src2", "load-sim --count=50000 --rate=0 --seed=2 "
                 "> :rm-in", deploy=True)
        settle(f, ["rm-load", "rm-tap"], {"rm-load": 55000, "rm-tap": 5000})
        assert app_inst(f, "rm", "bridge")["drops"] == 0


def test_tap_mid_run():
    """A tap deployed while the tapped source produces gets every event
    from its first one on, even when its sink stops reading for a while
    (SIGSTOP): what it logged is one unbroken run of load-sim's sequence
    to the last event, no gap, no duplicate (checker.py). The log holds
    payloads only, to stay below the size at which flowd rotates it."""
    n = 8000
    with Flowd() as f:
        f.create("mid", f"load-sim --count={n} --rate=2000 --seed=1 "
                 "--illegal-ratio=0 | account-events | counter "
                 "--name=mid-load", deploy=True)
        wait_for("the stream is under way", lambda: f.counter("mid-load") >
                 1500, timeout=60, interval=0.1)
        f.create("mid-tap", ":mid.account-events > log", deploy=True)
        wait_for("the tap logs", lambda: logged_events(f, "mid-tap", "log"),
                 timeout=30, interval=0.1)
        pid = app_inst(f, "mid-tap", "log")["pid"]
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(3)
        finally:
            os.kill(pid, signal.SIGCONT)
        completed(f, "mid")
        settle(f, ["mid-load"], {"mid-load": n})
        ref = list(checker.loadsim_events(1, 1000, n))
        last = (ref[-1]["key"], ref[-1]["seq"])
        wait_for("the tap logged the last event", lambda: any(
            checker.identify(e) == last
            for e in logged_events(f, "mid-tap", "log")),
            timeout=30, interval=0.2)
        got = logged_events(f, "mid-tap", "log")
        first = checker.identify(got[0])
        ids = {(e["key"], e["seq"]): e["id"] for e in ref}
        start = ids[first]
        assert 1 < start < n, start
        report = checker.check(got, ref[start - 1:])
        assert report["ok"], checker.format_report(report)
        assert report["committed"] == n - start + 1, report
        assert report["out_of_order"] == 0, report


def dead_letter_run(f, n, consumers, props=None):
    f.create("dl", f"load-sim --count={n} --rate=0 --seed=1 "
             "--illegal-ratio=0.1 | account-events | counter --name=dl-ok")
    for name, definition in consumers:
        f.create(name, definition, deploy=True)
        f.wait_status(name, "deployed")
    f.deploy("dl", props)
    # A hosted source does not exit while its host runs: its count says
    # it is done.
    wait_for("the source made every event", lambda: app_inst(
        f, "dl", "load-sim")["out"] == n, timeout=180, interval=0.2)
    illegal = sum(e["illegal"] for e in checker.loadsim_events(
        1, 1000, n, 0.1))
    assert 0 < illegal < n, illegal
    return illegal


def test_dead_letters():
    """Rejected events reach :dl.account-events.errors: a counter there
    plus the main counter sum exactly to N, the errors equal
    account-events' `errors` and what load-sim meant to be illegal, and a
    log there shows each one with its reason."""
    n = 20000
    with Flowd() as f:
        illegal = dead_letter_run(f, n, [
            ("dl-errs", ":dl.account-events.errors > counter "
             "--name=dl-errs"),
            ("dl-log", ":dl.account-events.errors > log --event=true"),
        ])
        settle(f, ["dl-ok", "dl-errs"], {"dl-ok": n - illegal,
                                         "dl-errs": illegal})
        ae = app_inst(f, "dl", "account-events")
        assert ae["errors"] == illegal and ae["drops"] == 0, ae
        assert f.get("/streams/definitions/dl-errs")["source"] == {
            "destination": "dl.account-events.errors", "group": "dl-errs"}
        wait_for("the log shows every dead letter", lambda: len(
            logged_events(f, "dl-log", "log")) >= illegal, timeout=30)
        got = logged_events(f, "dl-log", "log")
        report = checker.check(got, [e for e in checker.loadsim_events(
            1, 1000, n, 0.1) if e["illegal"]])
        assert report["ok"] and report["committed"] == illegal, \
            checker.format_report(report)
        # Each with its reason, e.g. "ACCOUNT_SUSPENDED on account 46
        # (seq 1) in state CREATED: illegal transition".
        known = ("illegal transition", "account is not active",
                 "insufficient funds")
        kinds = {}
        for e in got:
            why = [k for k in known if k in e["payload"]["error"]]
            assert why, e
            kinds[why[0]] = kinds.get(why[0], 0) + 1
        assert set(kinds) == set(known), kinds


def test_dead_letters_no_consumer():
    """Without a consumer of its dead letters, account-events is not held
    up: every rejected event is counted in its `errors`."""
    n = 20000
    with Flowd() as f:
        illegal = dead_letter_run(f, n, [])
        settle(f, ["dl-ok"], {"dl-ok": n - illegal})
        wait_for("the errors are reported", lambda: app_inst(
            f, "dl", "account-events")["errors"] == illegal, timeout=30)
        last = app_inst(f, "dl", "account-events")["lastError"]
        assert last and last.startswith("rejected a ACCOUNT_"), last


def test_several_instances():
    """Two instances of account-events (round robin: each rejects what
    belongs to accounts it never saw created): a tap of it and its dead
    letters still get every event of both, exactly once, and the tap
    stream's and the errors' counters sum to what the source made."""
    n = 20000
    with Flowd() as f:
        dead_letter_run(f, n, [
            ("two-tap", ":dl.account-events > counter --name=two-tap"),
            ("two-errs", ":dl.account-events.errors > counter "
             "--name=two-errs"),
        ], {"deployer.account-events.count": "2"})
        wait_for("both instances reported", lambda: sum(
            i["in"] for i in f.instances("dl")
            if i["label"] == "account-events") == n, timeout=30)
        aes = [i for i in f.instances("dl") if i["label"] == "account-events"]
        assert len(aes) == 2, aes
        errors = sum(i["errors"] for i in aes)
        dups = n - sum(i["out"] for i in aes) - errors
        assert errors > 0 and all(i["drops"] == 0 for i in aes), aes
        out = n - errors - dups
        settle(f, ["dl-ok", "two-tap", "two-errs"],
               {"dl-ok": out, "two-tap": out, "two-errs": errors})
        for i in aes:
            assert list(i["endpoints"]["outputGroups"]) == ["two-tap"], i


def test_tcp():
    """Over tcp:// (CURVE): the tapped app's group for the tap stream and
    flowd's reader of its error output are admitted, and both counts are
    exact."""
    n = 20000
    with Flowd() as f:
        tcp = {"deployer.*.transport": "tcp"}
        f.create("dl", f"load-sim --count={n} --rate=0 --seed=1 "
                 "--illegal-ratio=0.1 | account-events | counter "
                 "--name=dl-ok")
        f.create("tcp-tap", ":dl.account-events > counter --name=tcp-tap")
        f.deploy("tcp-tap", tcp)
        f.create("tcp-errs", ":dl.account-events.errors > counter "
                 "--name=tcp-errs")
        f.deploy("tcp-errs", tcp)
        f.wait_status("tcp-tap", "deployed")
        f.wait_status("tcp-errs", "deployed")
        f.deploy("dl", tcp)
        illegal = sum(e["illegal"] for e in checker.loadsim_events(
            1, 1000, n, 0.1))
        settle(f, ["dl-ok", "tcp-tap", "tcp-errs"],
               {"dl-ok": n - illegal, "tcp-tap": n - illegal,
                "tcp-errs": illegal})
        ae = app_inst(f, "dl", "account-events")
        assert ae["endpoints"]["errors"].startswith("tcp://"), ae
        assert ae["endpoints"]["outputGroups"]["tcp-tap"].startswith(
            "tcp://"), ae


def test_single_packaging():
    """The same wiring when the tapped stream runs as one process
    (deployer.packaging=single): its taps and dead letters are exact."""
    n = 20000
    with Flowd() as f:
        illegal = dead_letter_run(f, n, [
            ("one-tap", ":dl.load-sim > counter --name=one-tap"),
            ("one-errs", ":dl.account-events.errors > counter "
             "--name=one-errs"),
        ], {"deployer.packaging": "single"})
        settle(f, ["dl-ok", "one-tap", "one-errs"],
               {"dl-ok": n - illegal, "one-tap": n, "one-errs": illegal})


def test_restart_keeps_dead_letters():
    """flowd killed and started again while the stream runs: the adopted
    apps' error outputs are read again, and the counter of the dead
    letters goes on rising."""
    with Flowd() as f:
        f.create("rs", "load-sim --rate=2000 --seed=1 --illegal-ratio=0.1 | "
                 "account-events | counter --name=rs-ok")
        f.create("rs-errs", ":rs.account-events.errors > counter "
                 "--name=rs-errs", deploy=True)
        f.deploy("rs")
        f.wait_status("rs", "deployed")
        wait_for("dead letters counted", lambda: f.counter("rs-errs") > 0,
                 timeout=30)
        pids = sorted(f.app_pids())
        f.kill9()
        f.start()
        f.wait_status("rs", "deployed")
        f.wait_status("rs-errs", "deployed")
        assert sorted(f.app_pids()) == pids, (pids, f.app_pids())
        c = f.counter("rs-errs")
        wait_for("dead letters counted after the restart",
                 lambda: f.counter("rs-errs") > c + 10, timeout=30)


TESTS = {
    "tap_first": test_tap_first,
    "tap_after": test_tap_after,
    "tap_removed": test_tap_removed,
    "tap_mid_run": test_tap_mid_run,
    "dead_letters": test_dead_letters,
    "dead_letters_no_consumer": test_dead_letters_no_consumer,
    "several_instances": test_several_instances,
    "tcp": test_tcp,
    "single_packaging": test_single_packaging,
    "restart_keeps_dead_letters": test_restart_keeps_dead_letters,
}

if __name__ == "__main__":
    run(TESTS)
