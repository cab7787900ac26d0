#!/usr/bin/env python3
"""The sql sink into SQLite and into a real PostgreSQL server (Debian's
packages, started here in a temporary directory as an unprivileged user
and stopped at the end), without flowd: the Python coordinator of
test_checkpoint_apps.py drives `load-sim | account-events | sql` under
exactly-once. The sink acknowledges a checkpoint whose completion the
coordinator then withholds, so that the database holds rows of a
checkpoint flowd never completed; the sink is killed with SIGKILL, the
three restart from the last complete checkpoint, and the table must then
equal, row for row, the table a run without a guarantee and without
faults wrote: none twice, none missing.

Run as: test_sql_sink.py NAME (see TESTS)."""

import glob
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time

from flowd_harness import run, wait_for
from test_checkpoint_apps import Coordinator, app_path

COUNT = 60000
RATE = 20000
LABELS = ("load-sim", "account-events", "sql")
STREAM = "s"
COLUMNS = "account:account_id,seq,type,amount,balance,state"
SCHEMA = ("account_id BIGINT, seq BIGINT, type TEXT, amount BIGINT, "
          "balance BIGINT, state TEXT")


class WithholdingCoordinator(Coordinator):
    """Once withhold is set to a checkpoint id, that checkpoint and every
    later one are acknowledged by the apps but never completed, and no new
    one starts: a flowd that died before it recorded the completion."""

    withhold = None

    def handle(self, ident, m):
        if (m.get("t") == "ack" and self.withhold is not None
                and m["id"] >= self.withhold):
            with self.lock:
                who = (m.get("label"), m.get("instance"))
                self.acks.setdefault(m["id"], {})[who] = m["bytes"]
            return
        super().handle(ident, m)


def snap_file(ckdir, n, label):
    return os.path.join(ckdir, str(n), f"{STREAM}.{label}.0.snap")


class Pipeline:
    """The three apps, over ipc:// in tmp; guaranteed unless control is
    None."""

    def __init__(self, tmp, url, control=None, restore=None, tag=""):
        self.procs, self.logs = {}, {}
        self.tmp, self.tag = tmp, tag
        a, b = f"ipc://{tmp}/a{tag}", f"ipc://{tmp}/b{tag}"
        if control:
            common = [f"--flow.control={control}", f"--flow.stream={STREAM}",
                      "--flow.guarantee=exactly-once", "--flow.upstreams=1",
                      f"--flow.checkpoint-dir={tmp}/ck",
                      "--flow.drain-ms=20000"]
        else:
            common = [f"--flow.stream={STREAM}", "--flow.eos-exit=1"]
        args = {
            "load-sim": ["load-sim", f"--count={COUNT}", "--seed=1",
                         "--illegal-ratio=0", f"--rate={RATE}",
                         f"--flow.output={a}"],
            "account-events": ["account-events", f"--flow.input={a}",
                               f"--flow.output={b}"],
            "sql": ["sql", f"--url={url}", "--table=accounts",
                    f"--columns={COLUMNS}", f"--flow.input={b}"],
        }
        for label in reversed(LABELS):
            extra = []
            if restore:
                extra = [f"--flow.restore={snap_file(tmp + '/ck', restore, label)}"]
            log = open(self.log_path(label), "w")
            self.logs[label] = log
            cmd = args[label]
            self.procs[label] = subprocess.Popen(
                [app_path(cmd[0])] + cmd[1:] + common + extra
                + [f"--flow.label={label}"],
                stdout=log, stderr=subprocess.STDOUT)

    def log_path(self, label):
        return os.path.join(self.tmp, f"{label}{self.tag}.log")

    def log_text(self, label):
        with open(self.log_path(label)) as f:
            return f.read()

    def kill(self, label):
        p = self.procs[label]
        if p.poll() is None:
            p.kill()
        p.wait(30)

    def wait_exit(self, timeout):
        deadline = time.monotonic() + timeout
        for label, p in self.procs.items():
            rc = p.wait(max(0.1, deadline - time.monotonic()))
            assert rc == 0, f"{label} exited {rc}: {self.log_text(label)}"

    def close(self):
        for label in self.procs:
            self.kill(label)
        for log in self.logs.values():
            log.close()


def kill_and_restore(tmp, url, rows):
    """The faulted run; returns the sink's log of the restored run and
    how many events it skipped, the database having them already."""
    co = WithholdingCoordinator(f"ipc://{tmp}/ctl")
    pl = Pipeline(tmp, url, control=f"ipc://{tmp}/ctl")
    try:
        wait_for("three complete checkpoints",
                 lambda: len(co.complete) >= 3, timeout=60)
        wait_for("the sink a third of the way",
                 lambda: co.metrics.get("sql", {}).get("in", 0)
                 >= COUNT // 3, timeout=60)
        with co.lock:
            co.withhold = co.next_id
        held = co.withhold
        wait_for(f"checkpoint {held} acknowledged by all three",
                 lambda: len(co.acks.get(held, {})) == 3, timeout=60)
        # The sink committed checkpoint `held` to the database; its
        # completion never comes.
        assert len(rows()) > 0
        pl.kill("sql")
        for label in LABELS:
            pl.kill(label)
    finally:
        pl.close()
    last = co.last_complete()
    assert 0 < last < held, (last, held)
    co.close()
    written = len(rows())
    assert 0 < written < COUNT, written

    co = Coordinator(f"ipc://{tmp}/ctl", first_id=co.next_id)
    pl = Pipeline(tmp, url, control=f"ipc://{tmp}/ctl", restore=last, tag="r")
    try:
        pl.wait_exit(180)
        log = pl.log_text("sql")
    finally:
        pl.close()
        co.close()
    assert "more events, skipped" in log, log
    return log, int(log.split(" holds ")[1].split(" ")[0])


def check_skipped(log, skipped):
    """The replay brought again the events of the checkpoint that was
    written but not completed: the sink said so and skipped them."""
    assert skipped > 0, log


def check_rows(got, want):
    assert len(want) == COUNT, len(want)
    assert len(set(want)) == COUNT, "the reference rows are not distinct"
    dups = len(got) - len(set(got))
    missing = len(set(want) - set(got))
    extra = len(set(got) - set(want))
    assert sorted(got) == sorted(want), (
        f"{len(got)} rows, want {len(want)}: {dups} duplicated, "
        f"{missing} missing, {extra} not expected")


def sqlite_kill_restore():
    tmp = tempfile.mkdtemp(prefix="sqlsink")
    try:
        for name in ("ref.db", "out.db"):
            c = sqlite3.connect(os.path.join(tmp, name))
            c.execute(f"CREATE TABLE accounts ({SCHEMA})")
            c.commit()
            c.close()

        def rows_of(name):
            c = sqlite3.connect(os.path.join(tmp, name))
            try:
                return c.execute("SELECT account_id, seq, type, amount, "
                                 "balance, state FROM accounts").fetchall()
            finally:
                c.close()

        pl = Pipeline(tmp, f"sqlite:{tmp}/ref.db", tag="ref")
        try:
            pl.wait_exit(120)
        finally:
            pl.close()
        want = rows_of("ref.db")
        log, skipped = kill_and_restore(tmp, f"sqlite:{tmp}/out.db",
                                        lambda: rows_of("out.db"))
        check_rows(rows_of("out.db"), want)
        check_skipped(log, skipped)
        c = sqlite3.connect(os.path.join(tmp, "out.db"))
        prog = c.execute("SELECT stream, label, instance FROM "
                         "flow_progress").fetchall()
        c.close()
        assert prog == [(STREAM, "sql", 0)], prog
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """A PostgreSQL server of Debian's packages in a temporary directory,
    run as an unprivileged user (initdb refuses root), listening on a unix
    socket in that directory only."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        assert bins, "PostgreSQL is not installed (scripts/setup.sh)"
        self.bin = os.path.dirname(bins[-1])
        self.user = "nobody"
        pw = pwd.getpwnam(self.user)
        self.dir = tempfile.mkdtemp(prefix="sqlpg")
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.started = False
        self.as_user([os.path.join(self.bin, "initdb"), "-D", self.data,
                      "-A", "trust", "-U", "flow", "--no-sync"])
        self.as_user([os.path.join(self.bin, "pg_ctl"), "-D", self.data,
                      "-l", os.path.join(self.dir, "server.log"), "-w",
                      "-t", "60", "-o",
                      f"-p {self.port} -k {self.dir} -c listen_addresses=''"
                      " -c fsync=off", "start"])
        self.started = True
        self.url = (f"postgresql://flow@/postgres?host={self.dir}"
                    f"&port={self.port}")

    def as_user(self, cmd):
        p = subprocess.run(["runuser", "-u", self.user, "--"] + cmd,
                           capture_output=True, text=True, timeout=120,
                           cwd=self.dir)
        assert p.returncode == 0, (cmd, p.stdout, p.stderr)

    def sql(self, statement, url=None):
        p = subprocess.run([os.path.join(self.bin, "psql"), url or self.url,
                            "-At",
                            "-v", "ON_ERROR_STOP=1", "-c", statement],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, (statement, p.stderr)
        return [tuple(line.split("|")) for line in p.stdout.splitlines()]

    def restart(self):
        self.as_user([os.path.join(self.bin, "pg_ctl"), "-D", self.data,
                      "-m", "immediate", "-w", "stop"])
        time.sleep(0.5)  # a transaction or two find no server
        self.as_user([os.path.join(self.bin, "pg_ctl"), "-D", self.data,
                      "-l", os.path.join(self.dir, "server.log"), "-w",
                      "-t", "60", "-o",
                      f"-p {self.port} -k {self.dir} -c listen_addresses=''"
                      " -c fsync=off", "start"])

    def stop(self):
        try:
            if self.started:
                self.as_user([os.path.join(self.bin, "pg_ctl"), "-D",
                              self.data, "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def with_postgres(body):
    """Starts a server with databases ref and out, fills ref's accounts
    by a run without a guarantee, and calls body(tmp, pg, out, rows_of,
    want); stops the server however it ends."""
    tmp = tempfile.mkdtemp(prefix="sqlsink")
    pg = None
    try:
        pg = Postgres()
        pg.sql("CREATE DATABASE ref")
        pg.sql("CREATE DATABASE out")
        ref = pg.url.replace("/postgres?", "/ref?")
        out = pg.url.replace("/postgres?", "/out?")
        for url in (ref, out):
            pg.sql(f"CREATE TABLE accounts ({SCHEMA})", url)

        def rows_of(url):
            return pg.sql("SELECT account_id, seq, type, amount, balance, "
                          "state FROM accounts", url)

        pl = Pipeline(tmp, ref, tag="ref")
        try:
            pl.wait_exit(180)
        finally:
            pl.close()
        body(tmp, pg, out, rows_of, rows_of(ref))
    finally:
        if pg:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def postgres_kill_restore():
    def body(tmp, pg, out, rows_of, want):
        log, skipped = kill_and_restore(tmp, out, lambda: rows_of(out))
        check_rows(rows_of(out), want)
        check_skipped(log, skipped)
    with_postgres(body)


def postgres_server_restart():
    """The server is restarted (immediate shutdown) mid-run: the sink's
    transactions fail and their checkpoints are declined while it is
    away, the sink connects again and the table ends exact."""
    def body(tmp, pg, out, rows_of, want):
        co = Coordinator(f"ipc://{tmp}/ctl")
        pl = Pipeline(tmp, out, control=f"ipc://{tmp}/ctl")
        try:
            wait_for("two complete checkpoints",
                     lambda: len(co.complete) >= 2, timeout=60)
            wait_for("the sink a third of the way",
                     lambda: co.metrics.get("sql", {}).get("in", 0)
                     >= COUNT // 3, timeout=60)
            pg.restart()
            pl.wait_exit(180)
            log = pl.log_text("sql")
        finally:
            pl.close()
            co.close()
        assert "connected again" in log, log
        assert co.declines, "no checkpoint declined while the server was away"
        check_rows(rows_of(out), want)
    with_postgres(body)


def names_refused():
    """Table and column names are checked before anything is opened."""
    tmp = tempfile.mkdtemp(prefix="sqlsink")
    try:
        for opt, want in (("--table=a;drop", "--table"),
                          ("--columns=x:1bad", "column \"1bad\""),
                          ("--columns=a,a", "given twice"),
                          ("--url=mysql://h/db", "unknown database")):
            args = ["--url=sqlite:" + tmp + "/x.db", "--table=t",
                    "--columns=a"]
            key = opt.split("=")[0]
            args = [a for a in args if not a.startswith(key + "=")] + [opt]
            p = subprocess.run([app_path("sql")] + args, capture_output=True,
                               text=True, timeout=60)
            assert p.returncode == 2, (opt, p.returncode, p.stderr)
            assert want in p.stderr, (opt, p.stderr)
        assert not os.path.exists(tmp + "/x.db")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sqlite_path_rules():
    """sqlite:PATH obeys the path rules: a relative path is in the
    instance's directory, an absolute one outside the allowed directories
    is refused before anything is opened."""
    tmp = tempfile.mkdtemp(prefix="sqlsink")
    proc = None
    try:
        inst, allowed = os.path.join(tmp, "inst"), os.path.join(tmp, "ok")
        os.makedirs(inst)
        os.makedirs(allowed)
        rules = [f"--flow.instance-dir={inst}", f"--flow.allow-path={allowed}",
                 "--table=accounts", "--columns=account:account_id"]
        outside = os.path.join(tmp, "outside.db")
        p = subprocess.run([app_path("sql"), f"--url=sqlite:{outside}"]
                           + rules, capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 2, (p.returncode, p.stderr)
        assert "outside" in p.stderr and outside in p.stderr, p.stderr
        assert not os.path.exists(outside)
        p = subprocess.run([app_path("sql"), "--url=sqlite:../x.db"] + rules,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 2, (p.returncode, p.stderr)
        # The table exists only in the instance's directory's file: the
        # sink opening another one would stop at once, "no such table".
        c = sqlite3.connect(os.path.join(inst, "rel.db"))
        c.execute(f"CREATE TABLE accounts ({SCHEMA})")
        c.commit()
        c.close()
        log = os.path.join(tmp, "sql.log")
        with open(log, "w") as out:
            proc = subprocess.Popen([app_path("sql"), "--url=sqlite:rel.db",
                                     f"--flow.input=ipc://{tmp}/in"] + rules,
                                    stdout=out, stderr=subprocess.STDOUT,
                                    cwd=tmp)
        time.sleep(1)
        assert proc.poll() is None, open(log).read()
        assert not os.path.exists(os.path.join(tmp, "rel.db"))
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


TESTS = {
    "sqlite_path_rules": sqlite_path_rules,
    "sqlite_kill_restore": sqlite_kill_restore,
    "postgres_kill_restore": postgres_kill_restore,
    "postgres_server_restart": postgres_server_restart,
    "names_refused": names_refused,
}

if __name__ == "__main__":
    run(TESTS)
