#!/usr/bin/env python3
"""Your own events in, results out, exactly once, through flowd and its
checkpoint coordinator: 100,000 account events POSTed as NDJSON to a
deployed `http | account-events | file` stream while account-events is
killed with SIGKILL twice; the file sink's file then holds exactly the
applied events, once each (docs/guarantees.md, docs/apps.md "http",
"file").

Run as: test_ingest_exactly_once.py NAME (see TESTS)."""

import json
import os
import signal
import socket
import tempfile
import shutil
import threading
import time

from flowd_harness import Flowd, run, wait_for
from test_ingest import post, source_url

ACCOUNTS = 1000
PER_ACCOUNT = 100  # created, confirmed, activated, then deposits
BATCH = 1000


def events():
    """Legal events for ACCOUNTS accounts, interleaved by account: every
    one is applied, so the output must hold each (account, seq) once."""
    kinds = ["ACCOUNT_CREATED", "ACCOUNT_CONFIRMED", "ACCOUNT_ACTIVATED"]
    for seq in range(1, PER_ACCOUNT + 1):
        for a in range(1, ACCOUNTS + 1):
            ev = {"type": kinds[seq - 1] if seq <= 3 else "ACCOUNT_DEPOSITED",
                  "account": a, "seq": seq}
            if seq > 3:
                ev["amount"] = seq
            yield ev


def post_all(url, evs, done, errors):
    """POSTs the events in batches, retrying while the source answers 429
    or 503 (Retry-After) or cannot be reached for a moment."""
    batch = []
    for ev in evs:
        batch.append(json.dumps(ev).encode() + b"\n")
        if len(batch) < BATCH:
            continue
        body, batch = b"".join(batch), []
        deadline = time.monotonic() + 120
        while True:
            try:
                st, hdr, _ = post(url, body)
            except OSError:
                st, hdr = None, {}
            if st == 202:
                break
            if st not in (None, 429, 503) or time.monotonic() > deadline:
                errors.append(st)
                return
            time.sleep(float((hdr or {}).get("Retry-After", "0.2") or 0.2))
        done.append(len(body))


def read_lines(path):
    try:
        with open(path, "rb") as f:
            return [json.loads(line) for line in f.read().splitlines()]
    except FileNotFoundError:
        return []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pid_of(f, stream, label):
    for i in f.instances(stream):
        if i["label"] == label and i.get("pid") and i["state"] == "deployed":
            return i["pid"]
    return None


def test_http_account_events_file_kill_twice():
    out = tempfile.mkdtemp(prefix="flow-it-out-")
    os.chmod(out, 0o700)
    try:
        with Flowd("--allow-path", out) as f:
            # A fixed port, as a user's clients need: a restarted source
            # (each recovery restarts the region) binds the same one.
            f.create("in", f"http --port={free_port()} "
                     "--path-pattern=/ingest | "
                     f"account-events | file --directory={out} --name=applied"
                     " --suffix=ndjson --format=json")
            f.deploy("in")
            f.wait_status("in", "deployed", timeout=60)
            d = f.get("/streams/deployments/in")
            assert d["guarantee"] == "exactly-once", d.get("guarantee_note")
            url = source_url(f, "in", "http")
            done, errors = [], []
            t = threading.Thread(target=post_all,
                                 args=(url, events(), done, errors))
            t.start()
            try:
                for k in (20, 60):
                    wait_for(f"{k} batches acknowledged",
                             lambda k=k: len(done) >= k or errors,
                             timeout=120)
                    victim = wait_for("account-events running", lambda:
                                      pid_of(f, "in", "account-events"), 60)
                    os.kill(victim, signal.SIGKILL)
                    wait_for("account-events back", lambda: (
                        (p := pid_of(f, "in", "account-events"))
                        and p != victim), timeout=60)
            finally:
                t.join(300)
            assert not errors, errors
            total = ACCOUNTS * PER_ACCOUNT
            assert len(done) == total // BATCH, len(done)
            path = os.path.join(out, "applied.ndjson")
            wait_for("every applied event committed to the file",
                     lambda: len(read_lines(path)) >= total, timeout=180,
                     interval=0.2)
            time.sleep(2.5)  # two more checkpoints: nothing comes twice
            lines = read_lines(path)
            pairs = [(ln["account"], ln["seq"]) for ln in lines]
            assert len(pairs) == total, len(pairs)
            assert len(set(pairs)) == total, total - len(set(pairs))
            assert set(pairs) == {(a, s) for a in range(1, ACCOUNTS + 1)
                                  for s in range(1, PER_ACCOUNT + 1)}
            # Account state as a single, unbroken run would have it.
            last = {}
            for ln in lines:
                last[ln["account"]] = ln
            want = sum(range(4, PER_ACCOUNT + 1))
            assert all(v["balance"] == want and v["state"] == "ACTIVE"
                       for v in last.values()), list(last.values())[:3]
    finally:
        shutil.rmtree(out, ignore_errors=True)


TESTS = {
    "http_account_events_file_kill_twice":
        test_http_account_events_file_kill_twice,
}

if __name__ == "__main__":
    run(TESTS)
