"""clients/python/flowclient.py against a real flowd: 100,000 account
events produced into :ext-in, folded by a deployed
`ext = :ext-in > account-events > :ext-out`, and consumed from :ext-out
by an outside consumer group, checked event by event against a Python
fold of the same events; and a consumer that ends at end of stream."""

import os
import random
import sys
import threading

from flowd_harness import Flowd, run, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "clients", "python"))
import flowclient  # noqa: E402

# The account state machine (modules/common/account.c, docs/apps.md).
NEXT = {
    ("CREATED", "ACCOUNT_CREATED"): "PENDING",
    ("PENDING", "ACCOUNT_CONFIRMED"): "CONFIRMED",
    ("CONFIRMED", "ACCOUNT_ACTIVATED"): "ACTIVE",
    ("ACTIVE", "ACCOUNT_SUSPENDED"): "SUSPENDED",
    ("ACTIVE", "ACCOUNT_ARCHIVED"): "ARCHIVED",
    ("ACTIVE", "ACCOUNT_DEPOSITED"): "ACTIVE",
    ("ACTIVE", "ACCOUNT_WITHDRAWN"): "ACTIVE",
    ("SUSPENDED", "ACCOUNT_ACTIVATED"): "ACTIVE",
    ("ARCHIVED", "ACCOUNT_ACTIVATED"): "ACTIVE",
}
TYPES = sorted({t for _, t in NEXT})
MONEY = ("ACCOUNT_DEPOSITED", "ACCOUNT_WITHDRAWN")


def make_events(n, accounts, seed):
    """n events over accounts accounts: mostly legal next steps, some
    illegal ones, overdrafts and repeated sequence numbers."""
    rnd = random.Random(seed)
    state = {}
    events = []
    for _ in range(n):
        a = rnd.randrange(accounts)
        st, seq, bal = state.get(a, ("CREATED", 0, 0))
        legal = [t for (s, t) in NEXT if s == st]
        r = rnd.random()
        if r < 0.03 and seq > 0:
            # A duplicate: an earlier sequence number again.
            t, s2 = rnd.choice(TYPES), rnd.randint(1, seq)
            events.append({"type": t, "key": str(a), "payload": {
                "type": t, "account": a, "seq": s2, "amount": 5}})
            continue
        t = rnd.choice(TYPES) if r < 0.10 else rnd.choice(legal)
        if st == "ACTIVE" and r > 0.4:
            t = rnd.choice(MONEY)
        seq += 1
        p = {"type": t, "account": a, "seq": seq}
        if t in MONEY:
            p["amount"] = rnd.randint(1, 120 if t == MONEY[1] else 100)
        events.append({"type": t, "key": str(a), "payload": p})
        # Track the generator's own idea of the state (the fold decides).
        nxt = NEXT.get((st, t))
        if nxt and not (t == MONEY[1] and p["amount"] > bal):
            bal += p.get("amount", 0) * (1 if t == MONEY[0] else
                                         -1 if t == MONEY[1] else 0)
            st = nxt
        state[a] = (st, seq, bal)
    return events


def fold(events):
    """What account-events applies: [(account, seq, type, state,
    balance)] in order, and how many it rejects and skips as
    duplicates."""
    acc = {}
    out, rejected, dups = [], 0, 0
    for e in events:
        p = e["payload"]
        a = acc.setdefault(p["account"], ["CREATED", 0, 0])
        if p["seq"] <= a[2]:
            dups += 1
            continue
        t = p["type"]
        amount = p.get("amount", 0)
        nxt = NEXT.get((a[0], t))
        if (t in MONEY and amount <= 0) or nxt is None or \
                (t == MONEY[1] and amount > a[1]):
            rejected += 1
            continue
        if t == MONEY[0]:
            a[1] += amount
        elif t == MONEY[1]:
            a[1] -= amount
        a[0], a[2] = nxt, p["seq"]
        out.append((p["account"], p["seq"], t, a[0], a[1]))
    return out, rejected, dups


def client_of(f):
    return flowclient.Client(f.base, token=f.token, data_dir=f.data_dir)


def test_produce_fold_consume():
    n = 100000
    events = make_events(n, 2000, seed=12)
    want, rejected, dups = fold(events)
    assert rejected > 1000 and dups > 1000 and len(want) > n // 2, \
        (len(want), rejected, dups)
    with Flowd() as f:
        f.create("ext", ":ext-in > account-events > :ext-out", deploy=True)
        f.wait_status("ext", "deployed")
        c = client_of(f)
        d = f.get("/streams/destinations/ext-in")
        assert d["producers"] == [] and d["groups"][0]["streams"] == [
            {"stream": "ext", "deployed": True}], d
        sent = {}
        with c.consume("ext-out", "py-out", count=len(want),
                       idle=120) as cons:
            d = f.get("/streams/destinations/ext-out")
            groups = {g["group"]: g for g in d["groups"]}
            assert groups["py-out"]["outside"] is True, d
            assert len(groups["py-out"]["endpoints"]) == 1, d
            ep = groups["py-out"]["endpoints"][0]
            assert (ep["stream"], ep["app"], ep["instance"]) == \
                ("ext", "account-events", 0), ep
            assert d["producers"][0]["stream"] == "ext", d

            def produce():
                sent["n"] = c.produce("ext-in", events, producer="py-in")
            t = threading.Thread(target=produce)
            t.start()
            got = [(e["payload"]["account"], e["payload"]["seq"], e["type"],
                    e["payload"]["state"], e["payload"]["balance"])
                   for e in cons]
            t.join(timeout=120)
            assert not t.is_alive()
            # Nothing more comes: a bounded wait for any extra event.
            cons.count, cons.idle = None, 2.0
            extra = list(cons)
        assert sent["n"] == n, sent
        assert extra == [], extra[:3]
        assert len(got) == len(want), (len(got), len(want))
        assert got == want, next((i, g, w) for i, (g, w) in
                                 enumerate(zip(got, want)) if g != w)
        # account-events' own counts (its metrics come once a second):
        # what it skipped as duplicates is neither out nor an error.
        wait_for("account-events counted", lambda: f.instances("ext")[0][
            "in"] == n)
        inst = f.instances("ext")[0]
        assert inst["out"] == len(want) and inst["errors"] == rejected, \
            (inst, len(want), rejected, dups)
        # The consumer group and the producer are gone again.
        d = f.get("/streams/destinations/ext-out")
        assert [g["group"] for g in d["groups"]] == [], d
        d = f.get("/streams/destinations/ext-in")
        assert d["producers"] == [], d


def test_consume_until_end_of_stream():
    with Flowd() as f:
        n = 5000
        f.create("src", f"load-sim --count={n} --rate=0 --seed=3 > :ext-src",
                 deploy=True)
        f.wait_status("src", "deployed")
        c = client_of(f)
        # Ended by the source's end of stream (idle only bounds a failure).
        with c.consume("ext-src", "till-end", idle=120) as cons:
            got = list(cons)
        assert len(got) == n, len(got)
        assert [e["seq"] for e in got] == list(range(1, n + 1))
        assert [e["id"] for e in got] == list(range(1, n + 1))
        # Under the guarantee (exactly-once by default) flowd names the
        # producer STREAM.LABEL in its frames.
        assert cons.ended == {("src.load-sim", 0)}, cons.ended
        st, _, _ = f.request("DELETE",
                             "/streams/destinations/ext-src/groups/till-end")
        assert st == 404, st


def flowd_keys(f):
    keys = {}
    with open(os.path.join(f.data_dir, "flowd.keys")) as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 2 and not line.startswith("#"):
                keys[parts[0]] = parts[1]
    return keys


def test_destinations_rest():
    with Flowd() as f:
        f.create("w1", "load-sim --rate=2000 --seed=5 > :d1")
        f.deploy("w1", {"deployer.load-sim.transport": "tcp"})
        f.create("w2", "time > :d1")
        f.create("r1", ":d1 > counter --name=r1", deploy=True)
        f.create("r2", ":d1 --group=g2 > counter --name=r2", deploy=True)
        f.create("other", "time > :d2")
        for s in ("w1", "r1", "r2"):
            f.wait_status(s, "deployed")
        names = [d["name"] for d in f.get("/streams/destinations")[
            "destinations"]]
        assert names == ["d1", "d2"], names
        d = f.get("/streams/destinations/d1")
        assert d["producers"] == [
            {"stream": "w1", "app": "load-sim", "deployed": True,
             "instances": [0]},
            {"stream": "w2", "app": "", "deployed": False, "instances": []},
        ], d["producers"]
        groups = {g["group"]: g for g in d["groups"]}
        assert sorted(groups) == ["g2", "r1"], groups
        assert groups["g2"]["streams"] == [{"stream": "r2",
                                            "deployed": True}]
        server_key = flowd_keys(f)["server-public"]
        for g in groups.values():
            assert len(g["endpoints"]) == 1, g
            e = g["endpoints"][0]
            assert e["endpoint"].startswith("tcp://127.0.0.1:"), e
            assert e["serverKey"] == server_key, e
        # A group name a deployed stream reads the destination as is
        # refused; a new one is made once (201, then 200).
        st, _, body = f.request("POST", "/streams/destinations/d1/groups",
                                {"group": "g2"})
        assert st == 409 and b"EINUSE" in body, (st, body)
        st, _, body = f.request("POST", "/streams/destinations/d1/groups",
                                {"group": "no/name"})
        assert st == 400, (st, body)
        g = f.json("POST", "/streams/destinations/d1/groups",
                   {"group": "py"}, expect=201)
        assert g["outside"] is True and g["streams"] == [], g
        g = f.json("POST", "/streams/destinations/d1/groups",
                   {"group": "py"}, expect=200)
        # The client reads that group's copy over tcp:// with CURVE
        # (flowd.keys), and removes the group when done. (A group nobody
        # reads holds its producer once its queue is full, as any
        # consumer group does.)
        c = client_of(f)
        with c.consume("d1", "py", count=300, idle=120) as cons:
            got = list(cons)
        # The producer is named STREAM.LABEL under the guarantee.
        assert len(got) == 300 and all(
            e["producer"] == "w1.load-sim" for e in got), len(got)
        seqs = [e["seq"] for e in got]
        assert seqs == list(range(seqs[0], seqs[0] + 300)), seqs[:5]
        # An outside producer gets an endpoint of its own.
        p = f.json("POST", "/streams/destinations/d1/producers",
                   {"producer": "py"}, expect=201)
        assert p["outside"] == "py" and p["endpoint"].startswith(
            "ipc://"), p
        d = f.get("/streams/destinations/d1")
        assert d["producers"][-1]["outside"] == "py", d["producers"]
        st, _, _ = f.request("DELETE", "/streams/destinations/d1/groups/py")
        assert st == 404, st
        path = "/streams/destinations/d1/producers/py"
        st, _, _ = f.request("DELETE", path)
        assert st == 204, st
        st, _, _ = f.request("DELETE", path)
        assert st == 404, st
        st, _, _ = f.request("GET", "/streams/destinations/nope")
        assert st == 404, st
        d = f.get("/streams/destinations/d1")
        assert sorted(g["group"] for g in d["groups"]) == ["g2", "r1"], d
        assert all("outside" not in p for p in d["producers"]), d


def test_outside_before_streams():
    """An outside producer and group added before any stream names the
    destinations are wired in when the stream is deployed later."""
    with Flowd() as f:
        f.json("POST", "/streams/destinations/late-in/producers",
               {"producer": "early"}, expect=201)
        f.json("POST", "/streams/destinations/late-out/groups",
               {"group": "early"}, expect=201)
        names = [d["name"] for d in f.get("/streams/destinations")[
            "destinations"]]
        assert names == ["late-in", "late-out"], names
        f.create("late", ":late-in > account-events > :late-out",
                 deploy=True)
        f.wait_status("late", "deployed")
        # The instance said hello: it made the group's output group.
        wait_for("the group's endpoint", lambda: len(f.get(
            "/streams/destinations/late-out")["groups"][0]["endpoints"]) == 1)
        n = 1000
        events = [{"type": "ACCOUNT_CREATED", "key": str(a), "payload": {
            "type": "ACCOUNT_CREATED", "account": a, "seq": 1}}
            for a in range(n)]
        c = client_of(f)
        with c.consume("late-out", "early", count=n, idle=120) as cons:
            assert c.produce("late-in", events, producer="early") == n
            got = [(e["payload"]["account"], e["payload"]["state"])
                   for e in cons]
        assert got == [(a, "PENDING") for a in range(n)], got[:3]


TESTS = {
    "destinations_rest": test_destinations_rest,
    "outside_before_streams": test_outside_before_streams,
    "produce_fold_consume": test_produce_fold_consume,
    "consume_until_end_of_stream": test_consume_until_end_of_stream,
}

if __name__ == "__main__":
    run(TESTS)
