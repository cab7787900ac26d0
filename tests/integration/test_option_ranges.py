#!/usr/bin/python3
"""Integration tests of option bounds as flowd applies them: the min and
max an app's option table gives in its --describe make flowd refuse an
out-of-range value when a stream is created (at the value's offset) and
when it is deployed with a property, before any app runs.

Run one test: test_option_ranges.py NAME; all: test_option_ranges.py.
"""

import json

from flowd_harness import Flowd, flowctl, run


def test_create_refuses_out_of_range():
    """A definition with a value outside its option's range is a 400 with
    the checker's message at the value's offset; nothing is stored."""
    with Flowd() as f:
        definition = "load-sim --accounts=0 | counter"
        st, _, body = f.request("POST", "/streams/definitions",
                                {"name": "far", "definition": definition})
        assert st == 400, (st, body)
        doc = json.loads(body)
        errs = doc["errors"]
        assert len(errs) == 1, doc
        assert errs[0]["offset"] == definition.index("0"), errs
        assert errs[0]["column"] == definition.index("0") + 1, errs
        assert errs[0]["message"] == (
            "bad value '0' for option '--accounts' of app 'load-sim': "
            "expected an integer from 1 to 100000000"), errs
        st, _, body = f.request("GET", "/streams/definitions/far")
        assert st == 404, (st, body)
        # The bounds are inclusive, and a float and a sink's shared option
        # have theirs too.
        f.create("edge", "load-sim --accounts=1 --illegal-ratio=1 | counter "
                 "--delay-us=10000000")
        st, _, body = f.request(
            "POST", "/streams/definitions",
            {"name": "ratio", "definition":
             "load-sim --illegal-ratio=1.5 | counter"})
        assert st == 400, (st, body)
        assert ("expected a number from 0 to 1"
                in json.loads(body)["errors"][0]["message"]), body
        rc, out, err = flowctl(f, "stream", "create", "slow",
                               "time --fixed-delay=0 | log")
        assert rc == 1, (rc, out, err)
        assert ("bad value '0' for option '--fixed-delay' of app 'time': "
                "expected an integer from 1 to 31536000") in err, err


def test_property_refuses_out_of_range():
    """A deployment property outside the option's range is a 400 naming
    the property, the value and the range; a value inside deploys."""
    with Flowd() as f:
        f.create("clock", "time | log")
        st, _, body = f.request("POST", "/streams/deployments/clock",
                                {"app.*.fixed-delay": "0"})
        assert st == 400, (st, body)
        assert ("deployment property 'app.*.fixed-delay': '0' is not an "
                "integer from 1 to 31536000") in body.decode(), body
        st, _, body = f.request("POST", "/streams/deployments/clock",
                                {"app.log.delay-us": "-1"})
        assert st == 400, (st, body)
        assert ("deployment property 'app.log.delay-us': '-1' is not an "
                "integer from 0 to 10000000") in body.decode(), body
        assert f.status("clock") == "undeployed"
        f.deploy("clock", {"app.*.fixed-delay": "31536000"})
        f.wait_status("clock", "deployed", timeout=30)


TESTS = {
    "create_refuses_out_of_range": test_create_refuses_out_of_range,
    "property_refuses_out_of_range": test_property_refuses_out_of_range,
}

if __name__ == "__main__":
    run(TESTS)
