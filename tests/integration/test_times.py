#!/usr/bin/python3
"""Integration tests of the times flowd's REST API takes: ?from= and ?to=
of GET /metrics/aggregate-counters/NAME are parsed by libflow's ISO-8601
parser (flow/iso8601.h), the one the aggregate-counter app uses for
--time-field, so both take the same forms and refuse the same ones.

Run one test: test_times.py NAME; all: test_times.py.
"""

import json
import urllib.parse

from flowd_harness import Flowd, run, wait_for


def window(f, name, frm, to="2026-11-26T12:00:00Z"):
    """GET the counter's hourly window: (status, decoded body)."""
    q = urllib.parse.urlencode({"resolution": "hour", "from": frm, "to": to},
                               quote_via=urllib.parse.quote)
    st, _, body = f.request("GET", f"/metrics/aggregate-counters/{name}?{q}")
    return st, json.loads(body)


def test_from_to_forms():
    """Every form of flow/iso8601.h is taken; what it refuses is a 400."""
    with Flowd() as f:
        f.create("clock", "time --fixed-delay=1 | aggregate-counter "
                 "--name=clock-agg", deploy=True)
        wait_for("the aggregate counter", lambda: f.request(
            "GET", "/metrics/aggregate-counters/clock-agg")[0] == 200, 60)
        nine = "2026-11-26T09:00:00Z"
        for frm in ("2026-11-26T09:00:00Z", "2026-11-26T09:00:00",
                    "2026-11-26 09:30:00", "2026-11-26t09:15:00z",
                    "2026-11-26T09:00", "2026-11-26T09:00:59.999Z",
                    "2026-11-26T11:00:00+02:00", "2026-11-26T04:30:00-04:30",
                    "1795683600"):
            st, body = window(f, "clock-agg", frm)
            assert st == 200, (frm, st, body)
            assert body["from"] == nine, (frm, body["from"])
            assert body["to"] == "2026-11-26T12:00:00Z", (frm, body["to"])
        for frm in ("2023-02-29T00:00:00Z", "2026-11-31T00:00:00Z",
                    "2026-11-26T09:00:00.", "2026-11-26T9:00:00Z",
                    "2026-11-26", "2026-11-26T24:00:00Z", "soon"):
            st, body = window(f, "clock-agg", frm)
            assert st == 400, (frm, st, body)
            assert "'from' must be ISO-8601" in body["message"], body
        st, body = window(f, "clock-agg", nine, to="2026-11-26 12:00:00")
        assert st == 200 and body["to"] == "2026-11-26T12:00:00Z", body
        st, body = window(f, "clock-agg", nine, to="2026-02-30T00:00:00Z")
        assert st == 400 and "'to' must be ISO-8601" in body["message"], body


TESTS = {
    "from_to_forms": test_from_to_forms,
}

if __name__ == "__main__":
    run(TESTS)
