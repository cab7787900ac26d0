#!/usr/bin/python3
"""Integration tests of the transport's protection (docs/security.md):
ipc:// sockets only flowd's user can reach, and tcp:// endpoints that admit
only the peers flowd named (ZeroMQ CURVE).

Run one test: test_transport_security.py NAME; all: without a name.
"""

import os
import stat

from flowd_harness import Flowd, run, wait_for
from test_flowd import tapped_events


def ipc_sockets(run_dir):
    """The socket files under run_dir, by path."""
    out = []
    for root, _, files in os.walk(run_dir):
        for n in files:
            p = os.path.join(root, n)
            if stat.S_ISSOCK(os.lstat(p).st_mode):
                out.append(p)
    return sorted(out)


def test_ipc_sockets_private():
    """Every ipc:// socket of a deployed stream (outputs, taps, a
    destination's group, flowd's control and tap sockets) is mode 0600 in
    a 0700 directory, even when the run directory was left open before
    flowd started."""
    with Flowd() as f:
        f.stop()
        run_dir = os.path.join(f.data_dir, "run")
        os.chmod(run_dir, 0o755)
        f.start()
        assert stat.S_IMODE(os.stat(run_dir).st_mode) == 0o700, \
            oct(os.stat(run_dir).st_mode)
        f.create("ipcs", "load-sim --rate=1000 | account-events > :ipcd",
                 deploy=True)
        f.create("ipcc", ":ipcd > counter --name=ipc-in", deploy=True)
        f.create("ipcw", ":ipcs.account-events > counter --name=ipc-tap",
                 deploy=True)
        for s in ("ipcs", "ipcc", "ipcw"):
            f.wait_status(s, "deployed")
        wait_for("the consumer counts", lambda: f.counter("ipc-in"))
        wait_for("the tap counts", lambda: f.counter("ipc-tap"))
        socks = ipc_sockets(run_dir)
        names = sorted(os.path.basename(p) for p in socks)
        want = ["control", "ipcs.account-events.0.tap",
                "ipcs.account-events.0.to.ipcc", "ipcs.load-sim.0",
                "ipcs.load-sim.0.tap", "ipcw.tapin"]
        assert names == want, names
        for p in socks:
            mode = stat.S_IMODE(os.lstat(p).st_mode)
            assert mode == 0o600, (p, oct(mode))
            d = os.path.dirname(p)
            dmode = stat.S_IMODE(os.stat(d).st_mode)
            assert dmode == 0o700, (d, oct(dmode))
            assert os.lstat(p).st_uid == os.getuid(), p


TESTS = {
    "ipc_sockets_private": test_ipc_sockets_private,
}

if __name__ == "__main__":
    run(TESTS)
