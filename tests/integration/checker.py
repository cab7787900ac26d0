#!/usr/bin/python3
"""A Jepsen-style checker of a stream's committed output: which events of
the source were lost, which arrived twice, and which arrived out of order,
per key.

Input: the committed events, as a list of dicts, or a file of them, NDJSON
(one JSON object a line; lines that are not JSON objects are skipped, so a
`log` sink's log file can be read as it is) or msgpack (a sequence of maps
or of arrays of maps). Each event names its key and its position in the
key's sequence; the fields are looked up in the event, then in its
`payload` (what `log --event=true` prints), then in the `event` of an
error payload (`{"error": ..., "event": ...}`, what a dead letter holds):

- key: `key`, else the payload's `account`;
- seq: the payload's `seq`, else the event's `id`;
- producer and epoch, when present, are shown in the examples (a replay
  of an at-least-once stream shows as a duplicate with another epoch).

The expected events: `--expect-loadsim SEED,ACCOUNTS,COUNT[,ILLEGAL_RATIO]`
(the same sequence load-sim makes, see loadsim_events), `--expect-ids
FROM-TO` (ids FROM..TO, keys ignored: an event's id is its seq), or
`--expect FILE` (a file as above). Of
the load-sim sequence, `--only legal|illegal` keeps what account-events
applies or rejects, and `--from-id N` keeps the events from the N-th on (a
consumer that joined late).

Report: per key with a fault, the counts of lost, duplicated and out of
order events, with examples; the totals last. Exit status 0 when nothing
is lost or duplicated (out of order alone is reported, and fails only with
--strict-order), 1 otherwise, 2 on a usage error or an unreadable input.

    checker.py OUTPUT.ndjson --expect-loadsim 1,1000,20000,0.1 --only illegal
"""

import argparse
import json
import sys

MASK64 = (1 << 64) - 1

# The account state machine of modules/common/account.c: NEXT[state][event]
# is the new state, or -1 where the event is illegal.
EVENTS = ("ACCOUNT_CREATED", "ACCOUNT_CONFIRMED", "ACCOUNT_ACTIVATED",
          "ACCOUNT_SUSPENDED", "ACCOUNT_ARCHIVED", "ACCOUNT_DEPOSITED",
          "ACCOUNT_WITHDRAWN")
EV_CREATED, EV_CONFIRMED, EV_ACTIVATED, EV_SUSPENDED, EV_ARCHIVED, \
    EV_DEPOSITED, EV_WITHDRAWN = range(7)
ST_CREATED, ST_PENDING, ST_CONFIRMED, ST_ACTIVE, ST_SUSPENDED, \
    ST_ARCHIVED = range(6)
_ = -1
NEXT = (
    (ST_PENDING, _, _, _, _, _, _),
    (_, ST_CONFIRMED, _, _, _, _, _),
    (_, _, ST_ACTIVE, _, _, _, _),
    (_, _, _, ST_SUSPENDED, ST_ARCHIVED, ST_ACTIVE, ST_ACTIVE),
    (_, _, ST_ACTIVE, _, _, _, _),
    (_, _, ST_ACTIVE, _, _, _, _),
)
MAX_DEPOSIT = 100000


class _Rng:
    """xoshiro256** seeded by splitmix64, as modules/sources/load-sim/
    loadgen.c does it."""

    def __init__(self, seed):
        x = seed & MASK64
        self.s = []
        for _i in range(4):
            x = (x + 0x9e3779b97f4a7c15) & MASK64
            z = x
            z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & MASK64
            z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & MASK64
            self.s.append(z ^ (z >> 31))

    @staticmethod
    def _rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & MASK64

    def next(self):
        s = self.s
        result = (self._rotl((s[1] * 5) & MASK64, 7) * 9) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self._rotl(s[3], 45)
        return result

    def below(self, n):
        return (self.next() * n) >> 64


def loadsim_events(seed, accounts, count, illegal_ratio=0.0):
    """The events `load-sim --seed=SEED --accounts=ACCOUNTS --count=COUNT
    --illegal-ratio=R` emits, in order, as dicts {id, key, seq, type,
    amount, illegal} (id from 1; key the account in decimal, as load-sim
    sets the event's key; illegal: account-events rejects it)."""
    rng = _Rng(seed)
    accounts = max(1, accounts)
    ratio = min(1.0, max(0.0, illegal_ratio))
    ppm = int(ratio * 1000000.0 + 0.5)
    state = [ST_CREATED] * accounts
    balance = [0] * accounts
    next_seq = [0] * accounts
    for n in range(1, count + 1):
        i = rng.below(accounts)
        next_seq[i] += 1
        amount = 0
        illegal = rng.below(1000000) < ppm
        st = state[i]
        if illegal:
            bad = [e for e in range(7) if NEXT[st][e] < 0]
            overdraw = st == ST_ACTIVE
            k = rng.below(len(bad) + (1 if overdraw else 0))
            if k == len(bad):
                ev = EV_WITHDRAWN
                amount = balance[i] + 1 + rng.below(MAX_DEPOSIT)
            else:
                ev = bad[k]
                if ev in (EV_DEPOSITED, EV_WITHDRAWN):
                    amount = 1 + rng.below(MAX_DEPOSIT)
        else:
            if st == ST_CREATED:
                ev = EV_CREATED
            elif st == ST_PENDING:
                ev = EV_CONFIRMED
            elif st in (ST_CONFIRMED, ST_SUSPENDED, ST_ARCHIVED):
                ev = EV_ACTIVATED
            else:
                r = rng.below(100)
                if r < 4:
                    ev = EV_SUSPENDED
                elif r < 6:
                    ev = EV_ARCHIVED
                elif r < 50 and balance[i] > 0:
                    ev = EV_WITHDRAWN
                    amount = 1 + rng.below(balance[i])
                else:
                    ev = EV_DEPOSITED
                    amount = 1 + rng.below(MAX_DEPOSIT)
            if ev == EV_DEPOSITED:
                balance[i] += amount
            elif ev == EV_WITHDRAWN:
                balance[i] -= amount
            state[i] = NEXT[st][ev]
        yield {"id": n, "key": str(i + 1), "seq": next_seq[i],
               "type": EVENTS[ev], "amount": amount, "illegal": illegal}


def _field(ev, *names):
    """The first of names found in ev, its payload, or a dead letter's
    event (a payload {"error", "event"})."""
    places = [ev]
    p = ev.get("payload")
    if isinstance(p, dict):
        places.append(p)
        if isinstance(p.get("event"), dict) and "error" in p:
            places.append(p["event"])
    for name in names:
        for d in places:
            if name in d and d[name] is not None:
                return d[name]
    return None


def identify(ev):
    """(key, seq) of an event as the checker sees it; key is a string."""
    key = _field(ev, "key")
    if key is None:
        key = _field(ev, "account")
    seq = _field(ev, "seq")
    if seq is None:
        seq = _field(ev, "id")
    if seq is None:
        raise ValueError(f"event without seq or id: {ev!r}")
    return ("" if key is None else str(key)), int(seq)


def read_events(path):
    """The events of an NDJSON file (or any text file: its lines that are
    JSON objects) or of a msgpack file, as a list of dicts."""
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        text = data.decode()
    except UnicodeDecodeError:
        text = None
    if text is not None and (not data or "{" in text):
        out = []
        for line in text.splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                out.append(obj)
        return out
    import msgpack
    out = []
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
    unpacker.feed(data)
    try:
        for obj in unpacker:
            if isinstance(obj, dict):
                out.append(obj)
            elif isinstance(obj, list):
                out.extend(o for o in obj if isinstance(o, dict))
    except (msgpack.UnpackException, ValueError) as e:
        raise ValueError(f"{path}: not NDJSON and not msgpack ({e})") \
            from None
    return out


def by_id(ev):
    """(key, seq) for a check of ids alone: one key, the event's id."""
    i = _field(ev, "id")
    if i is None:
        raise ValueError(f"event without id: {ev!r}")
    return "", int(i)


def check(outputs, expected, max_examples=5, ident=None):
    """Compares outputs (committed events, in the order they were
    committed) with expected (the source's events). Returns a report:

        {"keys": {key: {"lost": n, "duplicated": n, "out_of_order": n,
                        "unexpected": n, "examples": {...}}},
         "lost": n, "duplicated": n, "out_of_order": n, "unexpected": n,
         "expected": n, "committed": n, "ok": bool}

    only keys with a fault are listed. lost: expected (key, seq) never
    committed; duplicated: commits of a (key, seq) beyond its first;
    out of order: a commit whose seq is below an earlier one of its key
    (a duplicate is not also counted out of order); unexpected: commits of
    a (key, seq) the source never made (counted apart; they fail the check
    like a duplicate, since something was made up or mislabelled). ok
    means nothing lost, duplicated or unexpected. ident(ev) gives an
    event's (key, seq); default identify."""
    ident = ident or identify
    want = {}
    for ev in expected:
        key, seq = ident(ev)
        want.setdefault(key, set()).add(seq)
    seen = {}
    last = {}
    keys = {}

    def entry(key):
        return keys.setdefault(key, {
            "lost": 0, "duplicated": 0, "out_of_order": 0, "unexpected": 0,
            "examples": {"lost": [], "duplicated": [], "out_of_order": [],
                         "unexpected": []}})

    def example(e, kind, what):
        e[kind] += 1
        if len(e["examples"][kind]) < max_examples:
            e["examples"][kind].append(what)

    committed = 0
    for ev in outputs:
        committed += 1
        key, seq = ident(ev)
        who = {k: ev[k] for k in ("producer", "epoch", "id") if k in ev}
        got = seen.setdefault(key, {})
        if seq in got:
            example(entry(key), "duplicated", dict(seq=seq, **who))
        elif seq not in want.get(key, ()):
            example(entry(key), "unexpected", dict(seq=seq, **who))
        elif key in last and seq < last[key]:
            example(entry(key), "out_of_order",
                    dict(seq=seq, after=last[key], **who))
        got[seq] = got.get(seq, 0) + 1
        last[key] = max(seq, last.get(key, seq))
    for key, seqs in want.items():
        got = seen.get(key, {})
        for seq in sorted(seqs):
            if seq not in got:
                example(entry(key), "lost", {"seq": seq})
    total = {k: sum(e[k] for e in keys.values())
             for k in ("lost", "duplicated", "out_of_order", "unexpected")}
    return dict(keys=keys, expected=sum(len(v) for v in want.values()),
                committed=committed,
                ok=not (total["lost"] or total["duplicated"] or
                        total["unexpected"]), **total)


def format_report(report, max_keys=20):
    """The report as text: faulty keys (at most max_keys), then totals."""
    lines = []
    for n, (key, e) in enumerate(sorted(report["keys"].items())):
        if n == max_keys:
            lines.append(f"... and {len(report['keys']) - max_keys} more "
                         "keys with faults")
            break
        counts = ", ".join(f"{k.replace('_', ' ')} {e[k]}"
                           for k in ("lost", "duplicated", "out_of_order",
                                     "unexpected") if e[k])
        lines.append(f"key {key!r}: {counts}")
        for kind, ex in e["examples"].items():
            if ex:
                lines.append(f"    {kind.replace('_', ' ')}: "
                             + json.dumps(ex))
    lines.append(f"expected {report['expected']}, committed "
                 f"{report['committed']}: lost {report['lost']}, duplicated "
                 f"{report['duplicated']}, out of order "
                 f"{report['out_of_order']}, unexpected "
                 f"{report['unexpected']}")
    return "\n".join(lines)


def _loadsim_arg(text):
    parts = text.split(",")
    if len(parts) not in (3, 4):
        raise argparse.ArgumentTypeError(
            "expected SEED,ACCOUNTS,COUNT[,ILLEGAL_RATIO]")
    try:
        return (int(parts[0]), int(parts[1]), int(parts[2]),
                float(parts[3]) if len(parts) == 4 else 0.0)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not numbers: {text!r}; expected SEED,ACCOUNTS,COUNT"
            "[,ILLEGAL_RATIO]") from None


def _ids_arg(text):
    lo, sep, hi = text.partition("-")
    try:
        lo, hi = int(lo), int(hi)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected FROM-TO, two integers: {text!r}") from None
    if not sep or lo < 1 or hi < lo:
        raise argparse.ArgumentTypeError(
            f"expected FROM-TO with 1 <= FROM <= TO: {text!r}")
    return lo, hi


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="checker.py",
        description="Report lost, duplicated and out-of-order events per "
                    "key in a stream's committed output.")
    ap.add_argument("output", help="committed events: NDJSON (or a log "
                    "sink's log) or msgpack")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--expect-loadsim", type=_loadsim_arg,
                     metavar="SEED,ACCOUNTS,COUNT[,ILLEGAL_RATIO]",
                     help="the events of load-sim with these options")
    src.add_argument("--expect-ids", type=_ids_arg, metavar="FROM-TO",
                     help="event ids FROM..TO (keys ignored, seq = id)")
    src.add_argument("--expect", metavar="FILE",
                     help="the expected events, a file like OUTPUT")
    ap.add_argument("--only", choices=("all", "legal", "illegal"),
                    default="all", help="of load-sim's events, those "
                    "account-events applies (legal) or rejects (illegal)")
    ap.add_argument("--from-id", type=int, default=1, metavar="N",
                    help="with --expect-loadsim or --expect-ids, expect "
                    "the events from id N on")
    ap.add_argument("--strict-order", action="store_true",
                    help="out of order fails the check too")
    ap.add_argument("--json", action="store_true",
                    help="print the report as JSON")
    a = ap.parse_args(argv)
    try:
        outputs = read_events(a.output)
        if a.expect_loadsim:
            expected = [e for e in loadsim_events(*a.expect_loadsim)
                        if e["id"] >= a.from_id and
                        (a.only == "all" or e["illegal"] == (
                            a.only == "illegal"))]
        elif a.expect_ids:
            lo, hi = a.expect_ids
            expected = [{"id": i} for i in range(max(lo, a.from_id), hi + 1)]
        else:
            expected = read_events(a.expect)
        report = check(outputs, expected,
                       ident=by_id if a.expect_ids else identify)
    except (OSError, ValueError) as e:
        print(f"checker.py: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=1) if a.json else format_report(report))
    bad = not report["ok"] or (a.strict_order and report["out_of_order"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
