#!/usr/bin/env python3
"""The Kafka binder on the app side, without flowd: flow-kafka-mock runs a
mock Kafka cluster; `flow-kafka load-sim` writes a topic and
`flow-kafka account-events` reads it and writes another, each under
exactly-once with its own Python checkpoint coordinator (the one of
test_checkpoint_apps.py: each app is the source of its own region, a
Kafka edge ending a region). account-events is killed with SIGKILL
mid-run, between two checkpoints (kill_exactly_once) or after a
checkpoint's ack but before its commit (kill_before_commit), and
restarted from its last complete checkpoint; a read_committed consumer
(kcat) must then see every event of the output topic exactly once.
rescale_follows_partitions restarts it as two instances from a
checkpoint of one: keyed state must follow the partitions.
FLOW_IT_KEEP=1 keeps the temporary directory with the apps' logs. Also: the record format (key, headers, msgpack and JSON values)
as kcat sees it, both ways.

Run as: test_kafka_apps.py NAME (see TESTS)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import msgpack

from flowd_harness import run, wait_for
from test_checkpoint_apps import Coordinator

COUNT = 30000
RATE = 10000
# The restarted consumer replaces the killed one in the group only once
# the group has given the dead member up: a short session keeps that
# within seconds.
GROUP_CONF = ["--flow.kafka.config=session.timeout.ms=6000",
              "--flow.kafka.config=heartbeat.interval.ms=500"]


def build_root():
    root = os.environ.get("FLOW_IT_BUILD_ROOT")
    if root:
        return root
    return os.path.join(os.path.dirname(__file__), "..", "..", "build")


def flow_kafka():
    return os.path.join(build_root(), "modules", "flow-kafka")


def mock_path():
    return os.path.join(build_root(), "tests", "kafka", "flow-kafka-mock")


def need_kafka():
    missing = [p for p in (flow_kafka(), mock_path())
               if not os.path.exists(p)
               and not (p == mock_path() and os.environ.get("FLOW_TEST_KAFKA"))]
    if missing or not shutil.which("kcat"):
        print(f"SKIP: built without librdkafka or no kcat ({missing})")
        sys.exit(77)


class Mock:
    """flow-kafka-mock with the given topics (NAME:PARTITIONS), stopped on
    exit; with FLOW_TEST_KAFKA=host:port a real cluster instead, the
    topics named with a suffix of this run (t() gives a topic's name) and
    created by the cluster on first use."""

    def __init__(self, topics):
        real = os.environ.get("FLOW_TEST_KAFKA")
        self.suffix = f"-{os.getpid()}-{int(time.time())}" if real else ""
        self.p = None
        if real:
            self.brokers = real
            return
        self.p = subprocess.Popen(
            [mock_path(), "--brokers=3"] + [f"--topic={t}" for t in topics],
            stdout=subprocess.PIPE, text=True)
        self.brokers = self.p.stdout.readline().strip()
        assert self.brokers.count(":") == 3, self.brokers

    def t(self, name):
        return name + self.suffix

    def close(self):
        if not self.p:
            return
        self.p.terminate()
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(30)


def kcat_headers(brokers, topic):
    """Every record of topic a read_committed consumer sees, as a dict of
    its headers plus "key", in order per partition."""
    out = subprocess.run(
        ["kcat", "-C", "-b", brokers, "-t", topic, "-e", "-q",
         "-X", "isolation.level=read_committed",
         "-f", "%k\t%h\n"],
        capture_output=True, text=True, timeout=120).stdout
    recs = []
    for line in out.splitlines():
        key, _, hdrs = line.partition("\t")
        d = dict(h.split("=", 1) for h in hdrs.split(",") if "=" in h)
        d["key"] = key
        recs.append(d)
    return recs


class HoldingCoordinator(Coordinator):
    """A coordinator that, once hold is set, completes checkpoints but
    tells no one (no ckpt_done): the window between an instance's ack
    and its commit, in which a kill leaves a complete checkpoint whose
    Kafka transaction never committed."""

    hold = False
    held = []

    def send(self, ident, msg):
        if self.hold and msg.get("t") == "ckpt_done":
            self.held.append(msg["id"])
            return
        super().send(ident, msg)


class InstanceCoordinator(Coordinator):
    """A coordinator of one instance of a Kafka-reading app, whichever its
    index: the base class sends ckpt to instance 0 of its source."""

    def handle(self, ident, m):
        super().handle(ident, dict(m, instance=0))


class App:
    """One app under flow-kafka, its log in tmp."""

    def __init__(self, tmp, name, args, tag):
        self.log_path = os.path.join(tmp, f"{name}{tag}.log")
        self.log = open(self.log_path, "w")
        self.p = subprocess.Popen([flow_kafka(), name] + args,
                                  stdout=self.log, stderr=subprocess.STDOUT)

    def kill(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
        self.p.wait(30)
        self.log.close()

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
        try:
            self.p.wait(60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(30)
        self.log.close()
        return self.p.returncode


def common(ctl, stream, label, ckdir, epoch, mock, instance=0):
    return [f"--flow.control={ctl}", f"--flow.stream={stream}",
            f"--flow.label={label}", "--flow.guarantee=exactly-once",
            f"--flow.checkpoint-dir={ckdir}", f"--flow.epoch={epoch}",
            "--flow.drain-ms=20000", f"--flow.kafka.brokers={mock.brokers}",
            f"--flow.kafka.transactional-id={stream}.{label}.{instance}{mock.suffix}",
            f"--flow.instance={instance}"]


def processor_args(tmp, ctl, epoch, mock, restore=None, instance=0,
                   instances=1):
    a = common(ctl, "q", "account-events", tmp + "/ckq", epoch, mock,
               instance) + [f"--flow.instances={instances}"] + [
        f"--flow.kafka.input={mock.t('ev')}",
        f"--flow.kafka.group={mock.t('q')}",
        f"--flow.kafka.output={mock.t('dom')}"] + GROUP_CONF
    if restore:
        a.append(f"--flow.restore={tmp}/ckq/{restore}/"
                 "q.account-events.0.snap")
    return a


def kill_exactly_once(before_commit=False):
    need_kafka()
    tmp = tempfile.mkdtemp(prefix="kafkaapps")
    mock = Mock(["ev:4", "dom:4"])
    cp = Coordinator(f"ipc://{tmp}/ctlp", source="load-sim", expect=1)
    cq = HoldingCoordinator(f"ipc://{tmp}/ctlq", source="account-events",
                            expect=1)
    apps = []
    try:
        src = App(tmp, "load-sim", [
            f"--count={COUNT}", "--seed=3", "--illegal-ratio=0",
            f"--rate={RATE}"] + common(f"ipc://{tmp}/ctlp", "p", "load-sim",
                                       tmp + "/ckp", 1, mock) + [
            f"--flow.kafka.output={mock.t('ev')}"], "")
        apps.append(src)
        proc = App(tmp, "account-events",
                   processor_args(tmp, f"ipc://{tmp}/ctlq", 1, mock),
                   "1")
        apps.append(proc)
        wait_for("account-events a third of the way and two checkpoints",
                 lambda: cq.metrics.get("account-events", {}).get("in", 0)
                 >= COUNT // 3 and len(cq.complete) >= 2, timeout=120)
        if before_commit:
            cq.hold = True
            wait_for("a checkpoint complete but not committed",
                     lambda: cq.held, timeout=60)
        else:
            # Between two checkpoints, away from a commit: the mock shows
            # the records of a transaction aborted inside its commit
            # (docs/kafka.md), which a real cluster hides.
            n = len(cq.complete)
            wait_for("one more checkpoint", lambda: len(cq.complete) > n,
                     timeout=60)
            time.sleep(0.1)
        proc.kill()
        last = cq.last_complete()
        if before_commit:
            assert cq.held[0] == last, (cq.held, last)
        assert last > 0
        # The Kafka part of each checkpoint lies beside its snapshot.
        assert os.path.exists(f"{tmp}/ckq/{last}/q.account-events.0.kafka")
        cq.close()
        cq = Coordinator(f"ipc://{tmp}/ctlq", source="account-events",
                         expect=1, first_id=last + 100)
        proc = App(tmp, "account-events",
                   processor_args(tmp, f"ipc://{tmp}/ctlq", 2, mock,
                                  restore=last), "2")
        apps.append(proc)
        rc = src.p.wait(180)
        assert rc == 0, f"load-sim exited {rc}"
        src.log.close()
        # Exactly once into the input topic, as a read_committed reader
        # sees it.
        ev = kcat_headers(mock.brokers, mock.t("ev"))
        ids = [int(r["id"]) for r in ev]
        assert len(ids) == COUNT and len(set(ids)) == COUNT, (
            len(ids), len(set(ids)))

        def out_ids():
            return [int(r["id"])
                    for r in kcat_headers(mock.brokers, mock.t("dom"))]
        wait_for("every event in the output topic",
                 lambda: len(out_ids()) >= COUNT, timeout=180)
        # Two more checkpoints: whatever came late would show now.
        n = len(cq.complete)
        wait_for("two more checkpoints", lambda: len(cq.complete) >= n + 2,
                 timeout=60)
        out = out_ids()
        dups = len(out) - len(set(out))
        assert dups == 0, f"{dups} records twice in the output topic"
        assert sorted(out) == sorted(ids), (
            f"{len(set(ids) - set(out))} missing, "
            f"{len(set(out) - set(ids))} not from the input")
        # Each output record keeps its input's key and type.
        keys_in = {int(r["id"]): (r["key"], r["type"]) for r in ev}
        for r in kcat_headers(mock.brokers, mock.t("dom")):
            assert (r["key"], r["type"]) == keys_in[int(r["id"])], r
        with open(os.path.join(tmp, "account-events2.log")) as f:
            log = f.read()
        assert "restored checkpoint" in log, log
        # The checkpoint restored had its transaction committed, or (the
        # kill before its commit) the restart wrote its records again.
        again = f"checkpoint {last}'s transaction" in log
        assert again == before_commit, log
        assert proc.stop() == 0
    finally:
        for a in apps:
            if a.p.poll() is None:
                a.kill()
        cp.close()
        cq.close()
        mock.close()
        if not os.environ.get("FLOW_IT_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


def record_format():
    """kcat's records in (JSON without headers, msgpack with), the app's
    records out as kcat reads them, with --flow.kafka.format=json."""
    need_kafka()
    tmp = tempfile.mkdtemp(prefix="kafkaapps")
    mock = Mock(["in:2", "out:2"])
    app = None
    try:
        lines = "".join(f'{i}:{{"n": {i}, "s": "x{i}"}}\n' for i in range(1, 6))
        subprocess.run(["kcat", "-P", "-b", mock.brokers, "-t", mock.t("in"),
                        "-K", ":"], input=lines, text=True, check=True,
                       timeout=60)
        mp = msgpack.packb({"n": 6, "s": "x6"})
        with open(os.path.join(tmp, "mp"), "wb") as f:
            f.write(mp)
        subprocess.run(["kcat", "-P", "-b", mock.brokers, "-t", mock.t("in"),
                        "-k", "6", "-H", "content-type=application/x-msgpack",
                        "-H", "type=thing", "-H", "id=66",
                        os.path.join(tmp, "mp")], check=True, timeout=60)
        app = App(tmp, "transform", [
            "--set.t=payload.n * 10", f"--flow.kafka.brokers={mock.brokers}",
            f"--flow.kafka.input={mock.t('in')}",
            f"--flow.kafka.group={mock.t('fmt')}",
            f"--flow.kafka.output={mock.t('out')}",
            "--flow.kafka.format=json"], "")

        def records():
            out = subprocess.run(
                ["kcat", "-C", "-b", mock.brokers, "-t", mock.t("out"), "-e",
                 "-q",
                 "-f", "%k\t%h\t%s\n"], capture_output=True, text=True,
                timeout=60).stdout
            return [line.split("\t") for line in out.splitlines()]
        wait_for("six records out", lambda: len(records()) >= 6, timeout=60)
        assert app.stop() == 0
        recs = records()
        assert len(recs) == 6, recs
        seen = {}
        for key, hdrs, value in recs:
            h = dict(x.split("=", 1) for x in hdrs.split(","))
            assert h["content-type"] == "application/json", h
            v = json.loads(value)
            assert v["t"] == v["n"] * 10 and key == str(v["n"]), (key, v)
            seen[v["n"]] = h
        assert sorted(seen) == [1, 2, 3, 4, 5, 6], seen
        assert seen[6]["type"] == "thing" and seen[6]["id"] == "66", seen[6]
        assert seen[1]["type"] == "kafka", seen[1]
    finally:
        if app and app.p.poll() is None:
            app.kill()
        mock.close()
        if not os.environ.get("FLOW_IT_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


def rescale_follows_partitions():
    """account-events checkpoints as one instance, is killed, and goes on
    as two: each reads its range of the four partitions from the
    checkpoint's positions and restores the accounts of exactly the keys
    of its partitions, so every event is applied once (an account's
    event applied without its state, or twice, would be an illegal
    transition: an error) and the output holds every event once."""
    need_kafka()
    tmp = tempfile.mkdtemp(prefix="kafkaapps")
    mock = Mock(["ev:4", "dom:4"])
    cp = Coordinator(f"ipc://{tmp}/ctlp", source="load-sim", expect=1)
    cq = Coordinator(f"ipc://{tmp}/ctlq", source="account-events", expect=1)
    cos = []
    apps = []
    try:
        src = App(tmp, "load-sim", [
            f"--count={COUNT}", "--seed=4", "--illegal-ratio=0",
            f"--rate={RATE}"] + common(f"ipc://{tmp}/ctlp", "p", "load-sim",
                                       tmp + "/ckp", 1, mock) + [
            f"--flow.kafka.output={mock.t('ev')}"], "")
        apps.append(src)
        proc = App(tmp, "account-events",
                   processor_args(tmp, f"ipc://{tmp}/ctlq", 1, mock), "1")
        apps.append(proc)
        wait_for("account-events a third of the way and two checkpoints",
                 lambda: cq.metrics.get("account-events", {}).get("in", 0)
                 >= COUNT // 3 and len(cq.complete) >= 2, timeout=120)
        n = len(cq.complete)
        wait_for("one more checkpoint", lambda: len(cq.complete) > n,
                 timeout=60)
        time.sleep(0.1)
        proc.kill()
        last = cq.last_complete()
        cq.close()
        # Each new instance reads its own partitions and checkpoints on
        # its own (one coordinator each: they share no channel).
        for i in range(2):
            co = InstanceCoordinator(f"ipc://{tmp}/ctlq{i}",
                                     source="account-events", expect=1,
                                     first_id=last + 100)
            cos.append(co)
            apps.append(App(tmp, "account-events", processor_args(
                tmp, f"ipc://{tmp}/ctlq{i}", 2, mock, restore=last,
                instance=i, instances=2), f"-{i}"))
        rc = src.p.wait(180)
        assert rc == 0, f"load-sim exited {rc}"
        src.log.close()
        ids = [int(r["id"]) for r in kcat_headers(mock.brokers, mock.t("ev"))]
        assert len(set(ids)) == COUNT == len(ids), len(ids)

        def out_ids():
            return [int(r["id"])
                    for r in kcat_headers(mock.brokers, mock.t("dom"))]
        wait_for("every event in the output topic",
                 lambda: len(out_ids()) >= COUNT, timeout=180)
        marks = [len(co.complete) for co in cos]
        wait_for("two more checkpoints of each instance",
                 lambda: all(len(co.complete) >= m + 2
                             for co, m in zip(cos, marks)), timeout=60)
        out = out_ids()
        assert len(out) == len(set(out)), f"{len(out) - len(set(out))} twice"
        assert sorted(out) == sorted(ids), len(set(ids) - set(out))
        for i, a in enumerate(apps[2:]):
            with open(a.log_path) as f:
                log = f.read()
            assert "reading 2 of the 4 partitions" in log, log
            assert a.stop() == 0, log
            bye = cos[i].bye.get("account-events")
            assert bye is not None and bye["errors"] == 0 and \
                bye["in"] > 0, bye
    finally:
        for a in apps:
            if a.p.poll() is None:
                a.kill()
        for co in [cp, cq] + cos:
            co.close()
        mock.close()
        if not os.environ.get("FLOW_IT_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


TESTS = {
    "record_format": record_format,
    "kill_exactly_once": kill_exactly_once,
    "kill_before_commit": lambda: kill_exactly_once(before_commit=True),
    "rescale_follows_partitions": rescale_follows_partitions,
}

if __name__ == "__main__":
    run(TESTS)
