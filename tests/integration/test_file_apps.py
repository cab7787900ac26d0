#!/usr/bin/env python3
"""The file source and the file sink under exactly-once, driven by the
small coordinator of test_checkpoint_apps.py (no flowd):

- source_kill_restore: `file --follow | file` while a writer appends
  lines to two files (each line written in two pieces, so the source sees
  unfinished lines); the source is killed with SIGKILL, everything is
  restarted from the last complete checkpoint, and the sink's file must
  then hold every line exactly once, in order.
- pipeline_exactly_once: `file | account-events | file` with
  account-events killed with SIGKILL mid-run and the three restored from
  the last complete checkpoint: the output file holds each applied event
  once, and no rejected one.
- sink_modes: --mode=fail refuses an existing file, replace empties it,
  append keeps it; without a guarantee the sink writes through; the
  source's --mode=contents makes one event per file, in name order,
  and the sink's --format=msgpack writes the payloads back to back.
- flowd_file_to_file: flowd deploys `file | file`, the first the file
  source and the last the file sink (one DSL name, resolved by
  position), with directories under --allow-path, and the lines arrive.

Run as: test_file_apps.py NAME (see TESTS)."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import msgpack

from flowd_harness import Flowd, run, wait_for
from test_checkpoint_apps import Coordinator, app_path, has_epoch_flag

STREAM = "s"


def snap(ckdir, n, label):
    return os.path.join(ckdir, str(n), f"{STREAM}.{label}.0.snap")


class Apps:
    """A chain of apps as processes over ipc:// in tmp, exactly-once.
    chain: [(label, executable, [options])], source first."""

    def __init__(self, tmp, chain, epoch, restore=None):
        self.procs, self.logs = {}, {}
        ctl = f"ipc://{tmp}/ctl"
        ep = [f"--flow.epoch={epoch}"] if has_epoch_flag() else []
        common = [f"--flow.control={ctl}", f"--flow.stream={STREAM}",
                  "--flow.guarantee=exactly-once", "--flow.upstreams=1",
                  f"--flow.checkpoint-dir={tmp}/ck",
                  "--flow.drain-ms=20000"] + ep
        for k in reversed(range(len(chain))):
            label, exe, opts = chain[k]
            wire = []
            if k > 0:
                wire.append(f"--flow.input=ipc://{tmp}/p{k - 1}")
            if k + 1 < len(chain):
                wire.append(f"--flow.output=ipc://{tmp}/p{k}")
            extra = []
            if restore:
                extra = [f"--flow.restore={snap(tmp + '/ck', restore, label)}"]
            log = open(os.path.join(tmp, f"{label}.e{epoch}.log"), "w")
            self.logs[label] = log
            self.procs[label] = subprocess.Popen(
                [app_path(exe)] + opts + wire + common + extra
                + [f"--flow.label={label}"],
                stdout=log, stderr=subprocess.STDOUT)

    def kill(self, label, sig=signal.SIGKILL):
        p = self.procs[label]
        if p.poll() is None:
            p.send_signal(sig)
        p.wait(30)

    def close(self):
        for label in self.procs:
            self.kill(label)
        for log in self.logs.values():
            log.close()


def lines_of(path):
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    assert data == b"" or data.endswith(b"\n"), "a partial line is visible"
    return [json.loads(x) for x in data.split(b"\n")[:-1]]


class Writer(threading.Thread):
    """Appends {"n": i} lines to a.ndjson, then b.ndjson, in chunks that
    end in the middle of a line (the rest follows a moment later)."""

    def __init__(self, d, count, per=50, pause=0.02):
        super().__init__(daemon=True)
        self.d, self.count, self.per, self.pause = d, count, per, pause
        self.written = 0
        self.stop_flag = False

    def run(self):
        held, prev = b"", "a.ndjson"
        for start in range(0, self.count, self.per):
            if self.stop_flag:
                return
            name = "a.ndjson" if start < self.count // 2 else "b.ndjson"
            body = b"".join(json.dumps({"n": i}).encode() + b"\n"
                            for i in range(start, min(start + self.per,
                                                      self.count)))
            if name != prev:
                self.append(prev, held)  # finish a's last line
                held, prev = b"", name
            cut = len(body) - 3
            self.append(name, held + body[:cut])
            held = body[cut:]
            self.written = min(start + self.per, self.count)
            time.sleep(self.pause)
        self.append("b.ndjson", held)

    def append(self, name, data):
        with open(os.path.join(self.d, name), "ab") as f:
            f.write(data)


def source_kill_restore():
    tmp = tempfile.mkdtemp(prefix="fileapps")
    count = 8000
    co = apps = writer = None
    try:
        src_dir, snk_dir = tmp + "/src", tmp + "/snk"
        os.makedirs(src_dir + "/in")
        os.makedirs(snk_dir + "/out")
        out = snk_dir + "/out/lines.ndjson"
        chain = [
            ("file-source", "file-source",
             ["--directory=in", "--mode=lines", "--follow=true",
              "--filename-pattern=*.ndjson",
              f"--flow.instance-dir={src_dir}"]),
            ("file-sink", "file-sink",
             ["--directory=out", "--name=lines", "--suffix=ndjson",
              f"--flow.instance-dir={snk_dir}"]),
        ]
        co = Coordinator(f"ipc://{tmp}/ctl", expect=2, source="file-source")
        apps = Apps(tmp, chain, 1)
        writer = Writer(src_dir + "/in", count)
        writer.start()
        wait_for("three complete checkpoints",
                 lambda: len(co.complete) >= 3, timeout=60)
        wait_for("lines committed", lambda: len(lines_of(out)) > 0,
                 timeout=60)
        wait_for("the writer a third through",
                 lambda: writer.written >= count // 3, timeout=60)
        apps.kill("file-source")
        seen = len(lines_of(out))
        time.sleep(0.3)
        apps.close()
        assert seen < count, f"all {seen} lines out before the kill"
        last = co.last_complete()
        assert last > 0
        co.close()

        co = Coordinator(f"ipc://{tmp}/ctl", expect=2, source="file-source",
                         first_id=co.next_id)
        apps = Apps(tmp, chain, 2, restore=last)
        writer.join(120)
        assert not writer.is_alive(), "the writer did not finish"
        wait_for(f"{count} lines in {out}",
                 lambda: len(lines_of(out)) >= count, timeout=120)
        # A checkpoint more: nothing beyond the lines written shows up.
        n = co.last_complete()
        wait_for("one more checkpoint", lambda: co.last_complete() > n + 1,
                 timeout=60)
        rows = lines_of(out)
        odd = [x for x in rows if not isinstance(x, dict)]
        assert not odd, f"{len(odd)} lines not whole: {odd[:5]}"
        got = [x["n"] for x in rows]
        dups = len(got) - len(set(got))
        missing = sorted(set(range(count)) - set(got))
        assert got == list(range(count)), (
            f"{len(got)} lines, {dups} repeated, {len(missing)} missing "
            f"(first {missing[:5]}), in order: {got == sorted(got)}")
        with open(os.path.join(snk_dir, "out", ".lines.ndjson.committed")) as f:
            ck, length = map(int, f.read().split())
        assert length == os.path.getsize(out), (length, out)
        assert ck > last, (ck, last)
    finally:
        if writer:
            writer.stop_flag = True
        if apps:
            apps.close()
        if co:
            co.close()
        shutil.rmtree(tmp, ignore_errors=True)


def account_lines(accounts, steps):
    """Account events, interleaved over accounts: created, confirmed,
    activated, then deposits, every fifth step a withdrawal too large to
    apply. Returns the lines and the (account, seq) that apply."""
    lines, applied = [], set()
    for step in range(steps):
        for a in range(accounts):
            seq = step + 1
            ev = {"account": a, "seq": seq}
            if step < 3:
                ev["type"] = ["ACCOUNT_CREATED", "ACCOUNT_CONFIRMED",
                              "ACCOUNT_ACTIVATED"][step]
                applied.add((a, seq))
            elif step % 5 == 4:
                ev["type"] = "ACCOUNT_WITHDRAWN"
                ev["amount"] = 10 ** 12
            else:
                ev["type"] = "ACCOUNT_DEPOSITED"
                ev["amount"] = step
                applied.add((a, seq))
            lines.append(json.dumps(ev))
    return lines, applied


def pipeline_exactly_once():
    tmp = tempfile.mkdtemp(prefix="fileapps")
    co = apps = None
    try:
        os.makedirs(tmp + "/in")
        os.makedirs(tmp + "/out")
        lines, applied = account_lines(200, 200)  # 40,000 events
        out = tmp + "/out/accounts.ndjson"
        chain = [
            ("file-source", "file-source",
             [f"--directory={tmp}/in", "--mode=lines", "--follow=true"]),
            ("account-events", "account-events", []),
            ("file-sink", "file-sink",
             [f"--directory={tmp}/out", "--name=accounts",
              "--suffix=ndjson", "--format=json"]),
        ]
        co = Coordinator(f"ipc://{tmp}/ctl", expect=3, source="file-source")
        apps = Apps(tmp, chain, 1)
        # Fed in pieces while it runs, so that the kill lands mid-run.
        part = len(lines) // 40
        fed = 0

        def feed(upto):
            nonlocal fed
            with open(tmp + "/in/events.ndjson", "a") as f:
                f.write("".join(x + "\n" for x in lines[fed:upto]))
            fed = upto

        for k in range(1, 15):
            feed(k * part)
            time.sleep(0.05)
        wait_for("three complete checkpoints",
                 lambda: len(co.complete) >= 3, timeout=60)
        wait_for("events committed", lambda: len(lines_of(out)) > 0,
                 timeout=60)
        apps.kill("account-events")
        time.sleep(0.3)
        apps.close()
        last = co.last_complete()
        co.close()
        before = len(lines_of(out))
        assert 0 < before < len(applied), (
            f"{before} of {len(applied)} events out before the kill: it "
            "did not land mid-run")

        co = Coordinator(f"ipc://{tmp}/ctl", expect=3, source="file-source",
                         first_id=co.next_id)
        apps = Apps(tmp, chain, 2, restore=last)
        for k in range(15, 41):
            feed(min(k * part, len(lines)))
            time.sleep(0.05)
        feed(len(lines))
        wait_for(f"{len(applied)} events in {out}",
                 lambda: len(lines_of(out)) >= len(applied), timeout=120)
        n = co.last_complete()
        wait_for("one more checkpoint", lambda: co.last_complete() > n + 1,
                 timeout=60)
        got = [(x["account"], x["seq"]) for x in lines_of(out)]
        dups = len(got) - len(set(got))
        assert dups == 0, f"{dups} events twice ({before} before the kill)"
        missing = applied - set(got)
        extra = set(got) - applied
        assert not missing and not extra, (
            f"{len(missing)} applied events missing, {len(extra)} not "
            "applied ones present")
        for x in lines_of(out):
            assert x["state"] == "ACTIVE" or x["seq"] <= 3, x
        bye = co.bye
        assert "file-sink" not in bye, "the sink stopped"
    finally:
        if apps:
            apps.close()
        if co:
            co.close()
        shutil.rmtree(tmp, ignore_errors=True)


def sink_run(tmp, args, payload_lines, files=None, mode="lines"):
    """The sink without a guarantee, fed by a file source over ipc://."""
    d = tmp + "/feed"
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, body in (files or {"x.ndjson": "".join(
            x + "\n" for x in payload_lines)}).items():
        with open(os.path.join(d, name), "w") as f:
            f.write(body)
    sink = subprocess.Popen([app_path("file-sink")] + args
                            + [f"--flow.input=ipc://{tmp}/m",
                               "--flow.eos-exit=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    src = subprocess.Popen([app_path("file-source"), f"--directory={d}",
                            f"--mode={mode}", f"--flow.output=@ipc://{tmp}/m"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        out, _ = sink.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        sink.kill()
        out, _ = sink.communicate()
    if sink.returncode != 0:
        src.kill()  # a sink that refused to start leaves it waiting
    try:
        src.wait(30)
    except subprocess.TimeoutExpired:
        src.kill()
        src.wait()
    return sink.returncode, out


def sink_modes():
    tmp = tempfile.mkdtemp(prefix="fileapps")
    try:
        os.makedirs(tmp + "/o")
        target = tmp + "/o/t.txt"
        base = [f"--directory={tmp}/o", "--name=t", "--suffix=txt",
                "--format=text"]
        with open(target, "w") as f:
            f.write("old\n")
        rc, out = sink_run(tmp, base + ["--mode=fail"], ['"a"'])
        assert rc == 1 and "exists and --mode=fail" in out, (rc, out)
        with open(target) as f:
            assert f.read() == "old\n"
        rc, out = sink_run(tmp, base + ["--mode=append"], ['"a"', "b c"])
        assert rc == 0, out
        with open(target) as f:
            assert f.read() == "old\na\nb c\n", "append keeps the file"
        rc, out = sink_run(tmp, base + ["--mode=replace"],
                              ['{"k": [1, 2]}', "zz"])
        assert rc == 0, out
        with open(target) as f:
            got = f.read()
        assert got == '{"k":[1,2]}\nzz\n', repr(got)
        assert not os.path.exists(tmp + "/o/.t.txt.staging"), (
            "no staging without a guarantee")
        # One event per file, in name order; msgpack back to back.
        rc, out = sink_run(tmp, [f"--directory={tmp}/o", "--name=m",
                                 "--format=msgpack"], None,
                           files={"2.txt": "two\nlines\n",
                                  "1.json": '{"a": [1, "x"]}\n',
                                  ".hidden": "never read"},
                           mode="contents")
        assert rc == 0, out
        with open(tmp + "/o/m", "rb") as f:
            got = list(msgpack.Unpacker(f, raw=False))
        assert got == [{"a": [1, "x"]}, "two\nlines\n"], got
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def flowd_file_to_file():
    d = tempfile.mkdtemp(prefix="fileapps")
    try:
        os.makedirs(d + "/in")
        os.makedirs(d + "/out")
        with open(d + "/in/a.ndjson", "w") as f:
            f.write("".join(json.dumps({"n": i}) + "\n" for i in range(100)))
        with Flowd("--allow-path", d) as f:
            f.create("ff", f"in: file --directory={d}/in --mode=lines "
                     f"--follow=true | out: file --directory={d}/out "
                     "--name=o --suffix=ndjson")
            info = f.json("GET", "/streams/definitions/ff")
            types = [a.get("type") for a in info.get("apps", [])]
            assert types == ["source", "sink"], info
            f.deploy("ff")
            f.wait_status("ff", "deployed", timeout=30)
            out = d + "/out/o.ndjson"
            wait_for("100 lines", lambda: len(lines_of(out)) >= 100,
                     timeout=60)
            f.json("DELETE", "/streams/deployments/ff", expect=200)
            f.wait_status("ff", "undeployed", timeout=30)
            assert [x["n"] for x in lines_of(out)] == list(range(100))
    finally:
        shutil.rmtree(d, ignore_errors=True)


TESTS = {
    "flowd_file_to_file": flowd_file_to_file,
    "source_kill_restore": source_kill_restore,
    "pipeline_exactly_once": pipeline_exactly_once,
    "sink_modes": sink_modes,
}

if __name__ == "__main__":
    run(TESTS)
