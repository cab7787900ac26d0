#!/usr/bin/python3
"""Integration tests of flowd's error codes: the REST error JSON carries
the name of the code from flowd's one error table (server/error.h,
docs/rest.md) beside the HTTP status that code maps to.

Run one test: test_errors.py NAME; all: test_errors.py.
"""

import json
import os

from flowd_harness import AppsDir, Flowd, run


def error(f, method, path, body=None):
    """(status, the error JSON) of a request that must fail."""
    st, _, data = f.request(method, path, body)
    assert st >= 400, (method, path, st, data)
    e = json.loads(data)
    assert e["status"] == st, e
    assert set(e) >= {"status", "error", "code", "message"}, e
    return st, e


def test_codes():
    with AppsDir() as allowed, AppsDir() as other, \
            Flowd("--apps-dir", allowed) as f:
        # A stream that is deployed cannot be deployed again.
        f.create("dep", "time | log", deploy=True)
        st, e = error(f, "POST", "/streams/deployments/dep", {})
        assert (st, e["code"]) == (409, "EDEPLOYED"), e
        assert "already deployed" in e["message"], e
        # A name in use is another 409, with another code.
        st, e = error(f, "POST", "/streams/definitions",
                      {"name": "dep", "definition": "time | log"})
        assert (st, e["code"]) == (409, "EEXIST"), e
        st, e = error(f, "POST",
                      "/streams/deployments/scale/nodep/log/instances/2")
        assert (st, e["code"]) == (404, "ENOTFOUND"), e
        f.create("nodep", "time | log")
        st, e = error(f, "POST",
                      "/streams/deployments/scale/nodep/log/instances/2")
        assert (st, e["code"]) == (409, "ENOTDEPLOYED"), e
        # Unknown stream, unknown route, wrong method.
        st, e = error(f, "GET", "/streams/definitions/nosuch")
        assert (st, e["code"]) == (404, "ENOTFOUND"), e
        assert "no stream named 'nosuch'" in e["message"], e
        st, e = error(f, "GET", "/no/such/route")
        assert (st, e["code"]) == (404, "ENOTFOUND"), e
        st, e = error(f, "PUT", "/streams/definitions")
        assert (st, e["code"]) == (405, "EMETHOD"), e
        # A definition that does not check, and bad deployment properties.
        st, e = error(f, "POST", "/streams/definitions",
                      {"name": "bad", "definition": "time | cuonter"})
        assert (st, e["code"]) == (400, "EDEFINITION"), e
        assert e["errors"] and "did you mean 'counter'" in e["message"], e
        st, e = error(f, "POST", "/streams/deployments/nodep",
                      {"deployer.log.count": "x"})
        assert (st, e["code"]) == (400, "EPROPS"), e
        st, e = error(f, "POST", "/streams/definitions", {"name": "x"})
        assert (st, e["code"]) == (400, "EINVAL"), e
        # An app outside every allowed directory: refused by the rules.
        path = os.path.join(other, "elsewhere")
        with open(path, "w") as fh:
            fh.write("#!/bin/sh\nexit 1\n")
        os.chmod(path, 0o755)
        st, e = error(f, "POST", "/apps/sink/elsewhere", {"uri": path})
        assert (st, e["code"]) == (403, "EREFUSED"), e
        assert "not under an allowed app directory" in e["message"], e
        # An app a stream uses cannot be unregistered.
        st, e = error(f, "DELETE", "/apps/sink/log")
        assert (st, e["code"]) == (409, "EINUSE"), e
    # A token that is missing.
    with Flowd(token="errors-test-token") as f:
        st, _, data = f.request("GET", "/about", token="")
        e = json.loads(data)
        assert (st, e["code"]) == (401, "EUNAUTHORIZED"), e


TESTS = {
    "codes": test_codes,
}

if __name__ == "__main__":
    run(TESTS)
