#!/usr/bin/python3
"""account-view through flowd under exactly-once: `load-sim | account-events
| account-view` is broken on purpose (kill -9 of account-view, of
account-events, of flowd) while it runs, and the read model it leaves must
equal, row for row, the one the same seed's run without a guarantee and
without faults writes (flow-host, no flowd): every applied event once in
`events`, every account at its last version in `accounts`. The lag figures
are read from flowd's REST.

Run one test: test_account_view.py NAME; all: test_account_view.py.
"""

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from flowd_harness import Flowd, run, wait_for

N = 30000
RATE = 6000
SOURCE = f"load-sim --count={N} --seed=7 --accounts=500 --illegal-ratio=0"
BUILD = os.environ.get("FLOW_IT_BUILD_ROOT", "build")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def reference(tmp):
    """The read model of a run without faults, as sorted rows."""
    db = os.path.join(tmp, "ref.db")
    cmd = [os.path.join(BUILD, "modules", "flow-host")] + \
        SOURCE.split() + ["--rate=0", "|", "account-events",
                          "--flow.eos-exit=1", "|", "account-view",
                          f"--read-model={db}", "--flow.eos-exit=1"]
    subprocess.run(cmd, check=True, timeout=120, cwd=tmp,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return read_model(db)


def read_model(db):
    """(accounts, events): the rows that do not depend on the clock (the
    payload without load-sim's ts)."""
    c = sqlite3.connect(db)
    try:
        accounts = c.execute("SELECT id, state, balance, version FROM "
                             "accounts ORDER BY id").fetchall()
        events = []
        for a, s, t, p in c.execute("SELECT account, seq, type, payload "
                                    "FROM events ORDER BY account, seq"):
            p = json.loads(p)
            p.pop("ts", None)
            events.append((a, s, t, json.dumps(p, sort_keys=True)))
        return accounts, events
    finally:
        c.close()


def count_events(db):
    try:
        c = sqlite3.connect(db, timeout=10)
        try:
            return c.execute("SELECT count(*) FROM events").fetchone()[0]
        finally:
            c.close()
    except sqlite3.OperationalError:
        return 0  # not created yet


def pid_of(f, stream, label):
    for i in f.instances(stream):
        if i["label"] == label and i.get("pid") and \
                i["state"] in ("deployed", "deploying"):
            return i["pid"]
    return None


def wait_pid(f, stream, label, not_pid=None, timeout=30):
    return wait_for(f"{stream}.{label} running", lambda: (
        (p := pid_of(f, stream, label)) and p != not_pid and p), timeout)


def check(db, want, f, stream):
    got = read_model(db)
    wa, we = want
    ga, ge = got
    assert len(we) == N, len(we)
    dups = len(ge) - len(set(ge))
    assert ge == we, (f"{len(ge)} events, want {len(we)}: {dups} twice, "
                      f"{len(set(we) - set(ge))} missing")
    assert ga == wa, f"{len(ga)} accounts, want {len(wa)}; differ: " + \
        str([a for a in ga if a not in wa][:5])
    c = sqlite3.connect(db)
    try:
        prog = c.execute("SELECT label, checkpoint, applied FROM "
                         "flow_progress").fetchall()
    finally:
        c.close()
    # Every event applied once over all the runs of the killed sink.
    assert len(prog) == 1 and prog[0][0] == "account-view" and \
        prog[0][1] > 0 and prog[0][2] == N, prog


def faulted(kill):
    """Deploys the stream, runs kill(f, stream) while it runs, and checks
    the read model."""
    def test():
        tmp = tempfile.mkdtemp(prefix="acctview")
        try:
            want = reference(tmp)
            db = os.path.join(tmp, "rm.db")
            with Flowd("--allow-path", tmp) as f:
                f.create("av", f"{SOURCE} --rate={RATE} | account-events | "
                         f"account-view --read-model={db}")
                f.deploy("av")
                f.wait_status("av", "deployed", timeout=30)
                kill(f, "av", db)
                wait_for(f"{N} events in the read model",
                         lambda: count_events(db) >= N, timeout=180,
                         interval=0.2)
                time.sleep(1.5)  # more checkpoints: nothing applied twice
                check(db, want, f, "av")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return test


def wait_events(db, n):
    wait_for(f"{n} events in the read model",
             lambda: count_events(db) >= n, timeout=60, interval=0.05)


def kill_app(label, times):
    def kill(f, stream, db):
        for k in range(times):
            wait_events(db, (k + 1) * N // (times + 2))
            victim = wait_pid(f, stream, label)
            os.kill(victim, signal.SIGKILL)
            wait_pid(f, stream, label, not_pid=victim)
    return kill


def kill_flowd(f, stream, db):
    wait_events(db, N // 3)
    f.kill9()
    time.sleep(0.5)
    f.start()


def test_lag_figures():
    """The lag figures reach flowd's REST; a load-sim event has no
    issued_ms, so the lag is 0 and applied counts every event."""
    tmp = tempfile.mkdtemp(prefix="acctview")
    try:
        db = os.path.join(tmp, "rm.db")
        with Flowd("--allow-path", tmp) as f:
            f.create("lag", "load-sim --count=2000 --rate=2000 | "
                     f"account-events | account-view --read-model={db}")
            f.deploy("lag")

            def figures():
                for i in f.instances("lag"):
                    if i["label"] == "account-view" and i.get("figures"):
                        return i["figures"]
                return None
            fig = wait_for("account-view's figures with 2000 applied",
                           lambda: (g := figures()) and
                           g.get("applied") == 2000 and g, timeout=60)
            assert set(fig) == {"applied", "lag_p50_ms", "lag_p99_ms",
                                "lag_max_ms", "lag_last_ms"}, fig
            assert fig["lag_max_ms"] == 0, fig
            got = f.get("/runtime/apps/lag.account-view")
            text = json.dumps(got)
            assert "lag_p99_ms" in text, text
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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


def accounts_flow(tmp):
    """streams/accounts.flow with its placeholder directory, the one flowd
    would be given as --allow-path, replaced by tmp."""
    return {k: v.replace(PLACEHOLDER, tmp)
            for k, v in stream_file("accounts.flow").items()}


PLACEHOLDER = "/var/lib/flow/accounts"


def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read() or b"null")


def command_reaches_read_model(f, web_stream, view_stream, db):
    """Creates an account through account-web's url and deposits into it;
    both reach the read model account-view writes and account-web reads."""
    def url():
        for i in f.instances(web_stream):
            if i["label"] == "account-web" and i.get("url") and \
                    i.get("state") == "deployed":
                return i["url"]
    wait_for("account-web's url", lambda: url() is not None, timeout=40)
    root = url()[:-len("/v1/accounts")]
    st, hd, b = http("POST", root + "/v1/accounts", {
        "firstName": "Grace", "lastName": "Hopper",
        "email": "grace@example.org"})
    assert st == 201, (st, b)
    href = hd["Location"]
    for cmd in ("confirm", "activate"):
        st, _, b = http("POST", f"{root}{href}/commands/{cmd}")
        assert st == 202, (cmd, st, b)
    st, _, b = http("POST", f"{root}{href}/commands/deposit", {"amount": 70})
    assert st == 202, (st, b)
    wait_for("the account at version 4 in the read model",
             lambda: http("GET", root + href)[2].get("version") == 4,
             timeout=40, interval=0.1)
    st, _, b = http("GET", root + href)
    assert (b["status"], b["balance"], b["firstName"]) == \
        ("ACTIVE", 70, "Grace"), b
    c = sqlite3.connect(db)
    try:
        assert c.execute("SELECT first_name, state, balance, version FROM "
                         "accounts").fetchall() == \
            [("Grace", "ACTIVE", 70, 4)]
        assert [r[0] for r in c.execute(
            "SELECT type FROM events ORDER BY seq")] == [
            "ACCOUNT_CREATED", "ACCOUNT_CONFIRMED", "ACCOUNT_ACTIVATED",
            "ACCOUNT_DEPOSITED"]
    finally:
        c.close()
    # The lag command -> read model, in account-view's figures in REST.
    def figures():
        for i in f.instances(view_stream):
            if i["label"] == "account-view" and i.get("figures"):
                return i["figures"]
    fig = wait_for("account-view's figures with 4 applied", lambda: (
        g := figures()) and g.get("applied") == 4 and g, timeout=30)
    assert fig["lag_max_ms"] >= fig["lag_p50_ms"] >= 0, fig
    assert fig["lag_max_ms"] < 60000, fig


def test_accounts_flow_multi():
    """streams/accounts.flow's multi form: three streams, three
    processes; the port given as a deployment property."""
    tmp = tempfile.mkdtemp(prefix="acctview")
    try:
        db = os.path.join(tmp, "read-model.db")
        ent = accounts_flow(tmp)
        with Flowd("--allow-path", tmp) as f:
            for s in ("accounts-web", "accounts-worker", "accounts-view"):
                f.create(s, ent[s])
            f.deploy("accounts-web", {"app.account-web.port": "0"})
            f.deploy("accounts-worker")
            f.deploy("accounts-view")
            for s in ("accounts-worker", "accounts-view", "accounts-web"):
                f.wait_status(s, "deployed", timeout=60)
            pids = {i["pid"] for s in ("accounts-worker", "accounts-view",
                                        "accounts-web")
                    for i in f.instances(s)}
            assert len(pids) == 3, pids
            for s in ("accounts-web", "accounts-worker", "accounts-view"):
                d = f.get(f"/streams/deployments/{s}")
                assert d["guarantee"] == "exactly-once", (s, d.get(
                    "guarantee_note"))
            command_reaches_read_model(f, "accounts-web", "accounts-view", db)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_accounts_flow_single():
    """streams/accounts.flow's single form in one flow-host process."""
    tmp = tempfile.mkdtemp(prefix="acctview")
    try:
        db = os.path.join(tmp, "read-model-single.db")
        ent = accounts_flow(tmp)
        with Flowd("--allow-path", tmp) as f:
            f.create("accounts-single", ent["accounts-single"])
            d = f.deploy("accounts-single", {
                "deployer.packaging": "single",
                "app.account-web.port": "0"})
            assert d["packaging"] == "single", d
            f.wait_status("accounts-single", "deployed", timeout=60)
            pids = {i["pid"] for i in f.instances("accounts-single")}
            assert len(pids) == 1 and None not in pids, pids
            command_reaches_read_model(f, "accounts-single",
                                       "accounts-single", db)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


TESTS = {
    "accounts_flow_multi": test_accounts_flow_multi,
    "accounts_flow_single": test_accounts_flow_single,
    "kill_view": faulted(kill_app("account-view", 2)),
    "kill_events": faulted(kill_app("account-events", 2)),
    "kill_flowd": faulted(kill_flowd),
    "lag_figures": test_lag_figures,
}

if __name__ == "__main__":
    run(TESTS)
