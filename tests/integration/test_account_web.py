#!/usr/bin/env python3
"""The account-web app (docs/apps.md "account-web") through flowd, spoken
to with plain HTTP as curl would: an account is created and walked
through every state by the HAL links it is given, the 409 and 412 answers
are checked exactly, and the event log is read back page by page. The
web and worker roles run as streams joined by named destinations:

    accounts-web    = account-web --read-model=DB > :account-commands
    accounts-worker = :account-commands > account-events > :account-domain
    accounts-view   = :account-domain > file (JSON lines)

and this test is the read model's writer: it folds the file sink's lines
into the SQLite schema account-web reads (the one account-view writes),
so that what account-web serves is checked against what the worker
applied. The command log and the write side survive kill -9 of
account-web and of account-events and a restart of flowd: nothing is
lost and nothing is applied twice.

Run as: test_account_web.py NAME (see TESTS)."""

import json
import os
import shutil
import signal
import sqlite3
import tempfile
import time
import urllib.error
import urllib.request

from flowd_harness import Flowd, run, wait_for

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts(id INTEGER PRIMARY KEY, first_name TEXT,
    last_name TEXT, email TEXT, state TEXT NOT NULL, balance INTEGER NOT NULL,
    version INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events(account INTEGER NOT NULL,
    seq INTEGER NOT NULL, type TEXT NOT NULL, issued_ms INTEGER NOT NULL,
    applied_ms INTEGER NOT NULL, payload TEXT NOT NULL,
    PRIMARY KEY(account, seq));
"""

# Every command, by the state it is legal in (modules/common/account.c).
LEGAL = {
    "PENDING": {"confirm"},
    "CONFIRMED": {"activate"},
    "ACTIVE": {"suspend", "archive", "deposit", "withdraw"},
    "SUSPENDED": {"activate"},
    "ARCHIVED": {"activate"},
}
COMMANDS = {"confirm", "activate", "suspend", "archive", "deposit",
            "withdraw"}


def http(method, url, body=None, headers=None, raw=None):
    """One request to account-web (not to flowd): (status, headers, JSON
    body or None)."""
    data = raw if raw is not None else (
        json.dumps(body).encode() if body is not None else None)
    h = {"Content-Type": "application/json"} if data is not None else {}
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            st, hd, b = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        st, hd, b = e.code, e.headers, e.read()
    return st, hd, (json.loads(b) if b else None)


class View:
    """The read model's writer for this test: folds the worker's applied
    events (the file sink's JSON lines) into the SQLite database."""

    def __init__(self, db, lines):
        self.db, self.lines = db, lines
        self.done = 0  # lines folded
        self.seen = []  # (account, seq) of every line, duplicates kept
        c = sqlite3.connect(db)
        c.execute("PRAGMA journal_mode=WAL")
        c.executescript(SCHEMA)
        c.commit()
        c.close()

    def sync(self):
        try:
            with open(self.lines) as fh:
                rows = fh.read().split("\n")
        except FileNotFoundError:
            return
        new = [json.loads(r) for r in rows[self.done:-1]]
        if not new:
            return
        c = sqlite3.connect(self.db)
        now = int(time.time() * 1000)
        for e in new:
            self.seen.append((e["account"], e["seq"]))
            c.execute("INSERT OR IGNORE INTO events VALUES(?,?,?,?,?,?)",
                      (e["account"], e["seq"], e["type"], e["issued_ms"],
                       now, json.dumps(e)))
            if e["type"] == "ACCOUNT_CREATED":
                c.execute("INSERT OR REPLACE INTO accounts VALUES"
                          "(?,?,?,?,?,?,?,?)",
                          (e["account"], e["first_name"], e["last_name"],
                           e["email"], e["state"], e["balance"], e["seq"],
                           now))
            else:
                c.execute("UPDATE accounts SET state=?, balance=?, "
                          "version=?, updated_ms=? WHERE id=? AND version<?",
                          (e["state"], e["balance"], e["seq"], now,
                           e["account"], e["seq"]))
        c.commit()
        c.close()
        self.done += len(new)


class Accounts:
    """flowd with the three streams deployed, the view and the API's url."""

    def __init__(self, f, tmp):
        self.f, self.tmp = f, tmp
        self.db = os.path.join(tmp, "read-model.db")
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        self.view = View(self.db, os.path.join(out, "domain.json"))
        f.create("accounts-worker",
                 ":account-commands > account-events > :account-domain")
        f.create("accounts-view",
                 f":account-domain > file --directory={out} --name=domain "
                 "--suffix=json")
        f.create("accounts-web",
                 f"account-web --read-model={self.db} > :account-commands")
        # Producers first: each consumer then starts with its producers
        # in place.
        for s in ("accounts-web", "accounts-worker", "accounts-view"):
            f.deploy(s)
            f.wait_status(s, "deployed", timeout=60)
        # account-web replays its command log: the region is exactly-once.
        for s in ("accounts-web", "accounts-worker", "accounts-view"):
            d = f.get(f"/streams/deployments/{s}")
            assert d["guarantee"] == "exactly-once", d.get("guarantee_note")
        self.wait_url()

    def wait_url(self, not_pid=None):
        """The url REST shows; with not_pid, that of the process started
        after that one (on a new port: --port=0), once it answers."""
        old = getattr(self, "url", None) if not_pid else None

        def url():
            for i in self.f.instances("accounts-web"):
                if i.get("url") and i.get("pid") != not_pid and \
                        i.get("state") == "deployed" and i["url"] != old:
                    try:
                        http("GET", i["url"])
                    except OSError:
                        return None
                    return i["url"]
            return None
        wait_for("account-web's url in REST", lambda: url() is not None,
                 timeout=40)
        u = url()
        assert u.startswith("http://127.0.0.1:") and \
            u.endswith("/v1/accounts"), u
        # The API's root: the url without /v1/accounts.
        self.root = u[:-len("/v1/accounts")]
        self.url = u
        return u

    def pid(self, stream):
        (i,) = self.f.instances(stream)
        return i["pid"]

    def get(self, path, **kw):
        return http("GET", self.root + path, **kw)

    def post(self, path, body=None, **kw):
        return http("POST", self.root + path, body, **kw)

    def consistent(self, href):
        """The account once the read model has caught up with the write
        side: (ETag, body)."""
        got = {}

        def ok():
            self.view.sync()
            st, hd, b = self.get(href)
            assert st == 200, (st, b)
            got["r"] = (hd["ETag"], b)
            return b["consistent"]
        wait_for(f"{href} consistent", ok, timeout=30)
        return got["r"]


def with_accounts(body):
    tmp = tempfile.mkdtemp(prefix="account-web-")
    try:
        with Flowd("--allow-path", tmp) as f:
            body(Accounts(f, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def command_links(b):
    return {k for k in b["_links"] if k in COMMANDS}


def follow(a, href, command, amount=None):
    """Follows the account's link for command with If-Match its ETag;
    returns the command's answer body."""
    etag, b = a.consistent(href)
    assert command_links(b) == LEGAL[b["status"]], b
    assert command in b["_links"], (command, b)
    assert etag == '"%d"' % b["version"], (etag, b)
    st, hd, r = a.post(b["_links"][command]["href"],
                       {"amount": amount} if amount is not None else None,
                       headers={"If-Match": etag})
    assert st == 202, (st, r)
    assert hd["Location"] == href, hd["Location"]
    assert hd["ETag"] == '"%d"' % (b["version"] + 1), (hd["ETag"], b)
    return r


def create(a, first="Ada", last="Lovelace", email="ada@example.org"):
    st, hd, b = a.post("/v1/accounts", {"firstName": first, "lastName": last,
                                        "email": email})
    assert st == 201, (st, b)
    assert hd["ETag"] == '"1"', hd["ETag"]
    assert b["status"] == "PENDING" and b["version"] == 1, b
    assert hd["Location"] == b["_links"]["self"]["href"], (hd, b)
    return hd["Location"]


WALK = [("confirm", None, "CONFIRMED", 0), ("activate", None, "ACTIVE", 0),
        ("deposit", 500, "ACTIVE", 500), ("withdraw", 200, "ACTIVE", 300),
        ("suspend", None, "SUSPENDED", 300), ("activate", None, "ACTIVE", 300),
        ("archive", None, "ARCHIVED", 300), ("activate", None, "ACTIVE", 300)]
TYPES = ["ACCOUNT_CREATED", "ACCOUNT_CONFIRMED", "ACCOUNT_ACTIVATED",
         "ACCOUNT_DEPOSITED", "ACCOUNT_WITHDRAWN", "ACCOUNT_SUSPENDED",
         "ACCOUNT_ACTIVATED", "ACCOUNT_ARCHIVED", "ACCOUNT_ACTIVATED"]


def test_walk():
    """Every state by the links given; 409 and 412 exactly; the event
    log; the errors."""
    def body(a):
        href = create(a)
        assert href == "/v1/accounts/1", href
        # Before the worker applied it the read says so.
        st, hd, b = a.get(href)
        assert st == 200 and b["writeVersion"] == 1, b
        for cmd, amount, state, balance in WALK:
            r = follow(a, href, cmd, amount)
            assert (r["status"], r["balance"]) == (state, balance), (cmd, r)
            if state == "SUSPENDED":
                st, _, r = a.post(href + "/commands/deposit", {"amount": 1})
                assert st == 409, (st, r)
                assert r["error"] == ("account is not active: deposit is not "
                                      "possible in state SUSPENDED"), r
        etag, b = a.consistent(href)
        assert (b["status"], b["balance"], b["version"]) == \
            ("ACTIVE", 300, 9), b
        assert (b["firstName"], b["lastName"], b["email"]) == \
            ("Ada", "Lovelace", "ada@example.org"), b
        assert etag == '"9"' and b["pendingCommands"] == 0, (etag, b)
        assert command_links(b) == LEGAL["ACTIVE"], b

        # 409: illegal in the state, and the state machine's reasons.
        st, _, r = a.post(href + "/commands/confirm")
        assert st == 409, (st, r)
        assert r["error"] == ("illegal transition: confirm is not possible "
                              "in state ACTIVE"), r
        st, _, r = a.post(href + "/commands/withdraw", {"amount": 301})
        assert st == 409 and r["error"].startswith("insufficient funds"), r
        # 412: a stale version, with the current one as the ETag.
        st, hd, r = a.post(href + "/commands/deposit", {"amount": 1},
                           headers={"If-Match": '"8"'})
        assert st == 412, (st, r)
        assert hd["ETag"] == '"9"', hd["ETag"]
        assert r["error"] == ('If-Match "8" is stale: the account is at '
                              'version 9'), r
        # Neither changed anything.
        st, hd, c = a.get(href + "/commands")
        assert st == 200 and hd["ETag"] == '"9"', (st, hd)
        assert sorted(x["name"] for x in c["commands"]) == \
            sorted(LEGAL["ACTIVE"]), c
        assert all(x["method"] == "POST" and x["href"] ==
                   f"{href}/commands/{x['name']}" for x in c["commands"]), c

        # The event log, oldest first, four to a page.
        events = []
        page = a.get(b["_links"]["events"]["href"] + "?size=4")
        assert page[0] == 200, page
        p = page[2]
        assert p["page"]["totalElements"] == 9, p["page"]
        assert p["page"]["totalPages"] == 3, p["page"]
        while True:
            events += p["_embedded"]["events"]
            if "next" not in p["_links"]:
                break
            st, _, p = a.get(p["_links"]["next"]["href"])
            assert st == 200, p
        assert [e["type"] for e in events] == TYPES, events
        assert [e["version"] for e in events] == list(range(1, 10)), events
        assert events[3]["payload"]["amount"] == 500, events[3]
        for e in events:
            assert e["payload"]["seq"] == e["version"], e
            assert e["time"].endswith("Z"), e
            st, _, one = a.get(e["_links"]["self"]["href"])
            assert st == 200 and one == e, (st, one, e)
        assert events[-1]["_links"]["self"]["href"] == "/v1/events/1-9"

        # The list of accounts.
        create(a, "Bob", "B", "bob@example.org")
        a.consistent("/v1/accounts/2")
        st, _, lst = a.get("/v1/accounts?size=1&page=1")
        assert st == 200, lst
        (acc,) = lst["_embedded"]["accounts"]
        assert acc["accountId"] == 2 and acc["firstName"] == "Bob", acc
        assert lst["page"]["totalElements"] == 2, lst
        assert lst["_links"]["prev"]["href"] == "/v1/accounts?page=0&size=1"

        # Bad input: exactly which answer, with a JSON error.
        for path, want in (("/v1/accounts/3", 404), ("/v1/accounts/0", 404),
                           ("/v1/accounts/x", 404), ("/v2", 404),
                           ("/v1/events/1-10", 404), ("/v1/events/1", 404)):
            st, _, r = a.get(path)
            assert st == want and "error" in r, (path, st, r)
        st, hd, r = http("DELETE", a.root + href)
        assert st == 405 and hd["Allow"] == "GET", (st, hd, r)
        st, _, r = a.get(href + "/commands/confirm")
        assert st == 405, (st, r)
        st, _, r = a.post(href + "/commands/fly")
        assert st == 404, (st, r)
        st, _, r = a.post("/v1/accounts", raw=b'{"firstName": "A",')
        assert st == 400 and "malformed JSON" in r["error"], r
        st, _, r = a.post("/v1/accounts", {"firstName": "A", "lastName": 1,
                                           "email": "e"})
        assert st == 400 and '"lastName"' in r["error"], r
        st, _, r = a.post(href + "/commands/deposit", {"amount": -5})
        assert st == 400 and '"amount"' in r["error"], r
        st, _, r = a.post(href + "/commands/deposit", {"amount": 1},
                          headers={"If-Match": "soon"})
        assert st == 400 and "If-Match" in r["error"], r
        st, _, r = a.post("/v1/accounts", raw=b"x" * 20000)
        assert st == 413, (st, r)
        st, _, r = a.get(href + "/events?size=1000")
        assert st == 400 and '"size"' in r["error"], r
        # None of it made a command: still version 9, two accounts.
        st, hd, _ = a.get(href + "/commands")
        assert hd["ETag"] == '"9"', hd["ETag"]
        st, _, lst = a.get("/v1/accounts")
        assert lst["page"]["totalElements"] == 2, lst
        a.view.sync()
        assert len(a.view.seen) == 10 == len(set(a.view.seen)), a.view.seen
    with_accounts(body)


def test_kill9():
    """kill -9 of account-web and of account-events: the write side is
    the fold of the command log, and every command reaches the read model
    exactly once."""
    def body(a):
        href = create(a)
        for cmd, amount, _, _ in WALK[:3]:
            follow(a, href, cmd, amount)
        web = a.pid("accounts-web")
        os.kill(web, signal.SIGKILL)

        # REST never shows the dead process's url for the new one.
        def restarted():
            (i,) = a.f.instances("accounts-web")
            if i["pid"] in (None, 0, web):
                return False
            assert i["url"] != a.url, i
            return i["url"] is not None
        wait_for("a new account-web with its url", restarted, timeout=40,
                 interval=0.005)
        a.wait_url(not_pid=web)
        # The write side survived: version 4, balance 500, the next id 2.
        st, hd, c = a.get(href + "/commands")
        assert st == 200 and hd["ETag"] == '"4"', (st, hd, c)
        assert c["status"] == "ACTIVE", c
        st, _, r = a.post(href + "/commands/withdraw", {"amount": 501})
        assert st == 409 and r["error"].startswith("insufficient"), r
        assert create(a, "Bob", "B", "b@example.org") == "/v1/accounts/2"
        # The three streams are one region: kill -9 of the worker restarts
        # it from its last checkpoint, account-web with it. A client whose
        # command went unanswered sends it again with the same If-Match:
        # the command is then applied once (202), or was already (412 with
        # the version it made).
        worker = a.pid("accounts-worker")
        web = a.pid("accounts-web")
        os.kill(worker, signal.SIGKILL)
        n = 0
        while n < 10:
            try:
                st, hd, r = a.post(href + "/commands/deposit", {"amount": 1},
                                   headers={"If-Match": '"%d"' % (4 + n)})
            except OSError:
                a.wait_url(not_pid=web)
                web = a.pid("accounts-web")
                continue
            assert st == 202 or (st == 412 and hd["ETag"] == '"%d"' %
                                 (5 + n)), (n, st, r)
            n += 1
        etag, b = a.consistent(href)
        assert etag == '"14"' and b["balance"] == 510, (etag, b)
        a.consistent("/v1/accounts/2")
        # Checkpoints publish the file; wait for them, then count.
        time.sleep(3)
        a.view.sync()
        want = [(1, s) for s in range(1, 15)] + [(2, 1)]
        assert sorted(a.view.seen) == want, a.view.seen
        # flowd shows the url and the figures (this process's counts).
        st, _, r = a.post(href + "/commands/confirm")
        assert st == 409, (st, r)
        st, _, r = a.post(href + "/commands/suspend",
                          headers={"If-Match": '"1"'})
        assert st == 412, (st, r)

        def app():
            st, _, m = a.f.request("GET",
                                   "/runtime/apps/accounts-web.account-web")
            assert st == 200, m
            (inst,) = json.loads(m)["instances"]
            return inst
        wait_for("the figures", lambda: (app()["figures"] or {}).get(
            "rejected", 0) >= 1 and app()["figures"]["stale"] >= 1)
        inst = app()
        assert inst["url"] == a.url, (inst, a.url)
        assert inst["figures"]["accounts"] == 2, inst["figures"]
    with_accounts(body)


def test_flowd_restart():
    """flowd stopped and started again: the streams come back, and the
    write side with them (flowd kill -9 with account-web killed too)."""
    def body(a):
        href = create(a)
        follow(a, href, "confirm")
        assert a.f.terminate() == 0
        a.f.start()
        for s in ("accounts-view", "accounts-worker", "accounts-web"):
            a.f.wait_status(s, "deployed", timeout=60)
        a.wait_url()
        etag, b = a.consistent(href)
        assert etag == '"2"' and b["status"] == "CONFIRMED", (etag, b)
        follow(a, href, "activate")
        web = a.pid("accounts-web")
        a.f.kill9()
        os.kill(web, signal.SIGKILL)
        a.f.start()
        a.f.wait_status("accounts-web", "deployed", timeout=60)
        a.wait_url(not_pid=web)
        r = follow(a, href, "deposit", 7)
        assert (r["version"], r["balance"]) == (4, 7), r
        etag, b = a.consistent(href)
        assert etag == '"4"' and b["balance"] == 7, (etag, b)
        time.sleep(3)
        a.view.sync()
        assert sorted(a.view.seen) == [(1, s) for s in range(1, 5)], \
            a.view.seen
    with_accounts(body)


def test_single_packaging():
    """Web and worker roles in one flow-host process."""
    tmp = tempfile.mkdtemp(prefix="account-web-")
    try:
        with Flowd("--allow-path", tmp) as f:
            db = os.path.join(tmp, "read-model.db")
            out = os.path.join(tmp, "out")
            os.mkdir(out)
            view = View(db, os.path.join(out, "domain.json"))
            f.create("accounts-single",
                     f"account-web --read-model={db} | account-events | "
                     f"file --directory={out} --name=domain --suffix=json")
            d = f.deploy("accounts-single", {"deployer.packaging": "single"})
            assert d["packaging"] == "single", d
            f.wait_status("accounts-single", "deployed", timeout=60)
            pids = {i["pid"] for i in f.instances("accounts-single")}
            assert len(pids) == 1 and None not in pids, pids

            def url():
                for i in f.instances("accounts-single"):
                    if i["label"] == "account-web" and i.get("url"):
                        return i["url"]
            wait_for("url", lambda: url() is not None, timeout=30)
            root = url()[:-len("/v1/accounts")]
            st, hd, b = http("POST", root + "/v1/accounts",
                             {"firstName": "A", "lastName": "B",
                              "email": "c"})
            assert st == 201, (st, b)
            st, _, b = http("POST", root + hd["Location"] +
                            "/commands/confirm", headers={"If-Match": '"1"'})
            assert st == 202 and b["status"] == "CONFIRMED", (st, b)

            def applied():
                view.sync()
                return len(view.seen) >= 2
            wait_for("both applied", applied, timeout=30)
            st, _, b = http("GET", root + "/v1/accounts/1")
            assert (b["status"], b["version"], b["consistent"]) == \
                ("CONFIRMED", 2, True), b
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


TESTS = {
    "walk": test_walk,
    "kill9": test_kill9,
    "flowd_restart": test_flowd_restart,
    "single_packaging": test_single_packaging,
}

if __name__ == "__main__":
    run(TESTS)
