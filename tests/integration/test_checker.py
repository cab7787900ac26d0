#!/usr/bin/python3
"""Unit tests of checker.py with crafted inputs: each fault it must find
(lost, duplicated, out of order, unexpected), the forms of events it
reads (plain, a log sink's `--expression=event` line, a dead letter), its
files (NDJSON, a log file, msgpack), its exit status, and its reference of
load-sim's sequence against figures taken from the real load-sim."""

import io
import json
import os
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checker  # noqa: E402


def ev(key, seq, **kw):
    return dict(key=key, seq=seq, **kw)


class Check(unittest.TestCase):
    def test_exact_is_ok(self):
        want = [ev("a", 1), ev("a", 2), ev("b", 1)]
        r = checker.check(list(want), want)
        self.assertTrue(r["ok"])
        self.assertEqual((r["lost"], r["duplicated"], r["out_of_order"],
                          r["unexpected"], r["expected"], r["committed"]),
                         (0, 0, 0, 0, 3, 3))
        self.assertEqual(r["keys"], {})

    def test_lost_per_key(self):
        want = [ev("a", s) for s in range(1, 6)] + [ev("b", 1)]
        got = [ev("a", 1), ev("a", 3), ev("b", 1)]
        r = checker.check(got, want)
        self.assertFalse(r["ok"])
        self.assertEqual(r["lost"], 3)
        self.assertEqual(set(r["keys"]), {"a"})
        self.assertEqual(r["keys"]["a"]["lost"], 3)
        self.assertEqual(r["keys"]["a"]["examples"]["lost"],
                         [{"seq": 2}, {"seq": 4}, {"seq": 5}])

    def test_duplicated_with_producer_and_epoch(self):
        want = [ev("a", 1), ev("a", 2)]
        got = [ev("a", 1, producer="s.app", epoch=1),
               ev("a", 2, producer="s.app", epoch=1),
               ev("a", 2, producer="s.app", epoch=2),
               ev("a", 2, producer="s.app", epoch=3)]
        r = checker.check(got, want)
        self.assertFalse(r["ok"])
        self.assertEqual((r["duplicated"], r["lost"], r["out_of_order"]),
                         (2, 0, 0))
        self.assertEqual(r["keys"]["a"]["examples"]["duplicated"][0],
                         {"seq": 2, "producer": "s.app", "epoch": 2})

    def test_out_of_order_alone_is_ok(self):
        want = [ev("a", 1), ev("a", 2), ev("a", 3), ev("b", 1)]
        got = [ev("a", 2), ev("b", 1), ev("a", 1), ev("a", 3)]
        r = checker.check(got, want)
        self.assertTrue(r["ok"])
        self.assertEqual(r["out_of_order"], 1)
        self.assertEqual(r["keys"]["a"]["examples"]["out_of_order"],
                         [{"seq": 1, "after": 2}])

    def test_order_is_per_key(self):
        want = [ev("a", 2), ev("b", 1)]
        r = checker.check([ev("a", 2), ev("b", 1)], want)
        self.assertEqual(r["out_of_order"], 0)

    def test_unexpected_fails(self):
        r = checker.check([ev("a", 1), ev("z", 9)], [ev("a", 1)])
        self.assertFalse(r["ok"])
        self.assertEqual(r["unexpected"], 1)
        self.assertEqual(list(r["keys"]), ["z"])

    def test_examples_are_bounded(self):
        want = [ev("a", s) for s in range(1, 101)]
        r = checker.check([], want, max_examples=3)
        self.assertEqual(r["lost"], 100)
        self.assertEqual(len(r["keys"]["a"]["examples"]["lost"]), 3)

    def test_forms_of_events(self):
        # A log sink's line, the event without a key header, and a dead
        # letter (the rejected event inside an error payload).
        line = {"level": "INFO", "id": 7, "type": "T", "key": "42",
                "payload": {"account": 42, "seq": 3}}
        nokey = {"id": 8, "payload": {"account": 42, "seq": 4}}
        dead = {"id": 9, "key": "42", "payload": {
            "error": "illegal transition", "event": {"account": 42,
                                                     "seq": 5}}}
        self.assertEqual(checker.identify(line), ("42", 3))
        self.assertEqual(checker.identify(nokey), ("42", 4))
        self.assertEqual(checker.identify(dead), ("42", 5))
        self.assertEqual(checker.identify({"id": 5}), ("", 5))
        self.assertEqual(checker.by_id(line), ("", 7))
        with self.assertRaises(ValueError):
            checker.identify({"key": "a"})

    def test_by_id(self):
        want = [{"id": i} for i in range(1, 5)]
        got = [{"id": 1, "key": "x", "payload": {"seq": 1}},
               {"id": 2, "key": "y", "payload": {"seq": 1}},
               {"id": 2, "key": "y", "payload": {"seq": 1}}]
        r = checker.check(got, want, ident=checker.by_id)
        self.assertEqual((r["lost"], r["duplicated"]), (2, 1))

    def test_report_text(self):
        r = checker.check([ev("a", 1), ev("a", 1)], [ev("a", 1), ev("a", 2)])
        text = checker.format_report(r)
        self.assertIn("key 'a': lost 1, duplicated 1", text)
        self.assertTrue(text.endswith(
            "expected 2, committed 2: lost 1, duplicated 1, out of order 0, "
            "unexpected 0"), text)


class LoadSim(unittest.TestCase):
    """Figures of the real `load-sim --seed=1 --accounts=1000
    --illegal-ratio=0.1` (through account-events into a log sink): its
    first events, and that 327 of its first 3000 are rejected."""

    def test_first_events(self):
        evs = list(checker.loadsim_events(1, 1000, 3))
        self.assertEqual([(e["id"], e["key"], e["seq"], e["type"])
                          for e in evs],
                         [(1, "703", 1, "ACCOUNT_CREATED"),
                          (2, "575", 1, "ACCOUNT_CREATED"),
                          (3, "698", 1, "ACCOUNT_CREATED")])

    def test_illegal_count(self):
        evs = list(checker.loadsim_events(1, 1000, 3000, 0.1))
        self.assertEqual(len(evs), 3000)
        self.assertEqual(sum(e["illegal"] for e in evs), 327)
        self.assertFalse(any(e["illegal"] for e in
                             checker.loadsim_events(1, 1000, 3000, 0)))

    def test_seq_per_key(self):
        last = {}
        for e in checker.loadsim_events(7, 10, 500, 0.2):
            self.assertEqual(e["seq"], last.get(e["key"], 0) + 1)
            last[e["key"]] = e["seq"]
        self.assertEqual(sum(last.values()), 500)


class Cli(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.dir.cleanup()

    def write(self, name, data):
        path = os.path.join(self.dir.name, name)
        with open(path, "wb") as fh:
            fh.write(data if isinstance(data, bytes) else data.encode())
        return path

    def run_cli(self, *args):
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                rc = checker.main(list(args))
            except SystemExit as e:  # argparse's usage errors
                rc = e.code
        return rc, out.getvalue(), err.getvalue()

    def test_ndjson_ids(self):
        ok = self.write("ok.ndjson", "".join(
            json.dumps({"id": i}) + "\n" for i in range(1, 11)))
        self.assertEqual(self.run_cli(ok, "--expect-ids", "1-10")[0], 0)
        rc, out, _ = self.run_cli(ok, "--expect-ids", "1-11")
        self.assertEqual(rc, 1)
        self.assertIn("lost 1", out)
        self.assertEqual(self.run_cli(ok, "--expect-ids", "5-10",
                                      "--from-id", "5")[0], 1)
        self.assertEqual(self.run_cli(ok, "--expect-ids", "1-10",
                                      "--from-id", "3")[0], 1)

    def test_log_file_and_loadsim(self):
        evs = [e for e in checker.loadsim_events(1, 1000, 200, 0.1)
               if e["illegal"]]
        lines = ["flowd: a line that is not JSON\n"] + [
            json.dumps({"level": "INFO", "id": e["id"], "key": e["key"],
                        "payload": {"error": "illegal transition",
                                    "event": {"account": int(e["key"]),
                                              "seq": e["seq"]}}}) + "\n"
            for e in evs]
        path = self.write("errs.log", "".join(lines))
        rc, out, _ = self.run_cli(path, "--expect-loadsim", "1,1000,200,0.1",
                                  "--only", "illegal")
        self.assertEqual(rc, 0, out)
        self.assertIn(f"expected {len(evs)}, committed {len(evs)}: lost 0",
                      out)
        rc, out, _ = self.run_cli(path, "--expect-loadsim", "1,1000,200,0.1")
        self.assertEqual(rc, 1)
        self.assertIn(f"lost {200 - len(evs)},", out)

    def test_msgpack_and_json_report(self):
        try:
            import msgpack
        except ImportError:
            self.skipTest("no msgpack module")
        data = msgpack.packb([{"id": 1}, {"id": 2}]) + \
            msgpack.packb({"id": 2})
        path = self.write("out.mp", data)
        rc, out, _ = self.run_cli(path, "--expect-ids", "1-2", "--json")
        self.assertEqual(rc, 1)
        r = json.loads(out)
        self.assertEqual((r["duplicated"], r["lost"], r["committed"]),
                         (1, 0, 3))

    def test_strict_order(self):
        path = self.write("o.ndjson", '{"id": 2}\n{"id": 1}\n')
        self.assertEqual(self.run_cli(path, "--expect-ids", "1-2")[0], 0)
        self.assertEqual(self.run_cli(path, "--expect-ids", "1-2",
                                      "--strict-order")[0], 1)

    def test_usage_errors(self):
        path = self.write("e.ndjson", "")
        self.assertEqual(self.run_cli(path, "--expect-ids", "3-1")[0], 2)
        self.assertEqual(self.run_cli(path)[0], 2)
        self.assertEqual(self.run_cli(path, "--expect-loadsim", "1,2")[0], 2)
        rc, _, err = self.run_cli(os.path.join(self.dir.name, "missing"),
                                  "--expect-ids", "1-1")
        self.assertEqual(rc, 2)
        self.assertIn("checker.py:", err)
        # An empty output against nothing expected is fine.
        self.assertEqual(self.run_cli(path, "--expect", path)[0], 0)


if __name__ == "__main__":
    unittest.main()
