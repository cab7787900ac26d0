#!/usr/bin/python3
"""Integration tests of the transport's protection (docs/security.md):
ipc:// sockets only flowd's user can reach, and tcp:// endpoints that admit
only the peers flowd named (ZeroMQ CURVE).

Run one test: test_transport_security.py NAME; all: without a name.
"""

import glob
import os
import signal
import stat
import tempfile
import time

import zmq

from flowd_harness import Flowd, pids_with, run, wait_for
from test_flowd import tapped_events

TCP = {"deployer.*.transport": "tcp"}


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
    """Every ipc:// socket of a deployed stream (outputs, lanes, error
    outputs, taps, a destination's and a tap stream's group, an outside
    program's group, a router's groups, flowd's control socket and its
    dead-letter relay's group) is mode 0600 in a 0700 directory, even
    when the run directory was left open before flowd started."""
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
        # The dead letters of account-events, through flowd's relay.
        f.create("ipce", ":ipcs.account-events.errors > "
                 "counter --name=ipc-dl", deploy=True)
        # Two instances of log: time's output is two lanes.
        f.create("ipcl", "time | log")
        f.deploy("ipcl", {"deployer.log.count": "2"})
        # A router's group per destination and consumer group.
        f.create("ipcq", ":ipcrd > counter --name=ipc-routed", deploy=True)
        f.create("ipcr", "load-sim --rate=100 | router "
                 "--expression=payload.type "
                 "--destination-mappings=ACCOUNT_OPENED:ipcrd "
                 "--default-output-channel=ipcrd", deploy=True)
        for s in ("ipcs", "ipcc", "ipcw", "ipce", "ipcl", "ipcq", "ipcr"):
            f.wait_status(s, "deployed")
        wait_for("the consumer counts", lambda: f.counter("ipc-in"))
        wait_for("the tap counts", lambda: f.counter("ipc-tap"))
        # An outside program's group of :ipcd.
        f.json("POST", "/streams/destinations/ipcd/groups",
               {"group": "ipc-out"}, expect=201)
        want = ["control", "ipcc.counter.0.errors",
                "ipce.counter.0.errors",
                "ipcl.log.0.errors", "ipcl.log.1.errors",
                "ipcl.time.0.errors", "ipcl.time.0.l0", "ipcl.time.0.l1",
                "ipcl.time.0.tap",
                "ipcq.counter.0.errors",
                "ipcr.load-sim.0", "ipcr.load-sim.0.errors",
                "ipcr.load-sim.0.tap", "ipcr.router.0.errors",
                "ipcr.router.0.route.ipcrd.to.ipcq",
                "ipcs.account-events.0.errors", "ipcs.account-events.0.tap",
                "ipcs.account-events.0.to.ipc-out",
                "ipcs.account-events.0.to.ipcc",
                "ipcs.account-events.0.to.ipcw",
                "ipcs.account-events.errors.to.ipce", "ipcs.load-sim.0",
                "ipcs.load-sim.0.errors", "ipcs.load-sim.0.tap",
                "ipcw.counter.0.errors"]
        wait_for("every socket", lambda: sorted(
            os.path.basename(p) for p in ipc_sockets(run_dir)) == want)
        socks = ipc_sockets(run_dir)
        names = sorted(os.path.basename(p) for p in socks)
        assert names == want, names
        for p in socks:
            mode = stat.S_IMODE(os.lstat(p).st_mode)
            assert mode == 0o600, (p, oct(mode))
            d = os.path.dirname(p)
            dmode = stat.S_IMODE(os.stat(d).st_mode)
            assert dmode == 0o700, (d, oct(dmode))
            assert os.lstat(p).st_uid == os.getuid(), p


def read_keys(path):
    """A keys file (flow/curve.h) as {name: [key, ...]}."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                name, key = line.split(" ", 1)
                out.setdefault(name, []).append(key)
    return out


def private_file(path):
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode), path
    assert stat.S_IMODE(st.st_mode) == 0o600, (path, oct(st.st_mode))
    assert st.st_uid == os.getuid(), path
    d = os.path.dirname(path)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, (d, oct(
        os.stat(d).st_mode))


def outsiders(zctx, endpoints, server_public, other):
    """Sockets of peers flowd did not name to these endpoints' apps, on
    every endpoint: a PULL (an output) or SUB (a tap) without keys, one
    with a random key pair that knows the server's public key (which is no
    secret), and one with the keys of another deployment (other: its keys
    file), which reads no destination of theirs."""
    socks = []
    for ep, kind in endpoints:
        for who in ("no keys", "random keys", "another deployment's keys"):
            s = zctx.socket(kind)
            s.setsockopt(zmq.LINGER, 0)
            if kind == zmq.SUB:
                s.setsockopt(zmq.SUBSCRIBE, b"")
            if who == "random keys":
                pub, sec = zmq.curve_keypair()
            elif who != "no keys":
                pub = other["public"][0].encode()
                sec = other["secret"][0].encode()
            if who != "no keys":
                s.curve_serverkey = server_public.encode()
                s.curve_publickey = pub
                s.curve_secretkey = sec
            s.connect(ep)
            socks.append((ep, who, s))
    return socks


def test_tcp_endpoints_admit_named_peers():
    """Over tcp:// (deployer.*.transport=tcp) a stream's outputs and taps
    admit only the peers flowd named: an outside PULL or SUB, without keys
    or with keys of its own, receives nothing while the stream counts
    exactly the events its source made; the keys files are 0600 in 0700
    directories; flowctl tap reads the taps through flowd's keys and a tap
    stream reads its own output group of the tapped app with its
    deployment's key."""
    n = 5000
    with Flowd() as f:
        f.create("tsec", f"load-sim --count={n} --rate=1000 | "
                 "account-events | counter --name=tsec-count")
        f.create("tsecw", ":tsec.account-events > counter --name=tsec-tap",
                 deploy=True)
        # A deployment that reads nothing of tsec's: its keys are an
        # outsider's to tsec.
        f.create("tsecx", "load-sim --rate=10 | counter --name=tsecx-count",
                 deploy=True)
        f.deploy("tsec", TCP)
        f.wait_status("tsec", "deployed")
        f.wait_status("tsecx", "deployed")
        eps = []
        for i in f.instances("tsec"):
            e = i["endpoints"]
            for o in e.get("output") or []:
                assert o.startswith("tcp://"), e
                eps.append((o, zmq.PULL))
            if e.get("tap"):
                assert e["tap"].startswith("tcp://"), e
                eps.append((e["tap"], zmq.SUB))
            assert e["errors"].startswith("tcp://"), e
            eps.append((e["errors"], zmq.PULL))
        # Three outputs (load-sim's, account-events' own and its output
        # group of the tap stream tsecw), two taps and three error outputs.
        assert len(eps) == 8, eps

        flowd_keys = os.path.join(f.data_dir, "flowd.keys")
        private_file(flowd_keys)
        files = glob.glob(os.path.join(f.data_dir, "run", "*", ".flow-keys"))
        assert sorted(os.path.basename(os.path.dirname(p)) for p in files) \
            == ["tsec.account-events-0", "tsec.counter-0",
                "tsec.load-sim-0", "tsecw.counter-0", "tsecx.counter-0",
                "tsecx.load-sim-0"], files
        server = read_keys(flowd_keys)["server-public"][0]
        for p in files:
            private_file(p)
            k = read_keys(p)
            assert k["server-public"] == [server], k
            assert len(k["public"][0]) == 40 and len(k["secret"][0]) == 40
        ka = read_keys(os.path.join(f.data_dir, "run",
                                    "tsec.load-sim-0", ".flow-keys"))
        kw = read_keys(os.path.join(f.data_dir, "run",
                                    "tsecw.counter-0", ".flow-keys"))
        kx = read_keys(os.path.join(f.data_dir, "run",
                                    "tsecx.load-sim-0", ".flow-keys"))
        # One key pair per deployment; an app admits flowd, its own
        # deployment and the tap stream (which reads its output group of
        # account-events), no one else; flowd's sockets admit every
        # deployment.
        assert len({ka["public"][0], kw["public"][0], kx["public"][0]}) == 3
        fk = read_keys(flowd_keys)
        assert sorted(ka["allow"]) == sorted(
            fk["public"] + ka["public"] + kw["public"]), ka
        assert sorted(fk["allow"]) == sorted(
            fk["public"] + ka["public"] + kw["public"] + kx["public"]), fk

        zctx = zmq.Context()
        socks = outsiders(zctx, eps, server, kx)
        # The outsiders came while the source still had events to give.
        assert f.counter("tsec-count") < n, f.counter("tsec-count")
        got = {}
        try:
            deadline = time.monotonic() + 60
            poller = zmq.Poller()
            for _, _, s in socks:
                poller.register(s, zmq.POLLIN)
            while f.counter("tsec-count") < n and time.monotonic() < deadline:
                for s, _ in poller.poll(100):
                    while True:
                        try:
                            s.recv(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        got[id(s)] = got.get(id(s), 0) + 1
            # A while more, for anything still on its way to an outsider.
            end = time.monotonic() + 1
            while time.monotonic() < end:
                for s, _ in poller.poll(100):
                    s.recv(zmq.NOBLOCK)
                    got[id(s)] = got.get(id(s), 0) + 1
        finally:
            for _, _, s in socks:
                s.close()
            zctx.term()
        stolen = {f"{ep} ({who})": got[id(s)]
                  for ep, who, s in socks if id(s) in got}
        assert not stolen, stolen
        wait_for("the count", lambda: f.counter("tsec-count") == n, 30)
        time.sleep(1)
        assert f.counter("tsec-count") == n, f.counter("tsec-count")
        assert f.counter("tsec-tap") > 0, f.counter("tsec-tap")

        # flowctl taps over tcp:// with flowd's keys.
        f.create("tsec2", "load-sim --rate=1000 | account-events | "
                 "counter --name=tsec2-count")
        f.deploy("tsec2", TCP)
        f.wait_status("tsec2", "deployed")
        for e in tapped_events(f, "tsec2.account-events"):
            assert e["stream"] == "tsec2" and e["app"] == "account-events", e


def test_long_data_dir_uses_curve_tcp():
    """A data directory whose path is too long for ipc:// sockets makes
    flowd fall back to tcp:// for its control endpoint, a tap stream's
    input and the apps' endpoints: all of them with CURVE, and the stream,
    the tap stream and flowctl tap work as over ipc://; the store, which
    holds the secret keys, is mode 0600."""
    with tempfile.TemporaryDirectory(prefix="flowd-it-long-") as tmp:
        data = os.path.join(tmp, "d" * 60, "e" * 60)
        with Flowd(data_dir=data) as f:
            about = f.get("/about")
            assert about["dataDir"] == data, about
            private_file(os.path.join(data, "flow.db"))
            f.create("lng", "load-sim --count=3000 --rate=1000 | "
                     "account-events | counter --name=lng-count")
            f.create("lngw", ":lng.account-events > counter --name=lng-tap",
                     deploy=True)
            f.deploy("lng")
            f.wait_status("lng", "deployed")
            for i in f.instances("lng"):
                for o in i["endpoints"].get("output") or []:
                    assert o.startswith("tcp://"), i
            ctl = set()
            for pid in pids_with(data + "/run/"):
                with open(f"/proc/{pid}/cmdline", "rb") as c:
                    for a in c.read().decode().split("\0"):
                        if a.startswith("--flow.control="):
                            ctl.add(a.split("=", 1)[1])
            assert len(ctl) == 1 and ctl.pop().startswith("tcp://"), ctl
            wait_for("the count", lambda: f.counter("lng-count") == 3000, 60)
            wait_for("the tap stream counts", lambda: f.counter("lng-tap"))
            f.create("lng2", "load-sim --rate=1000 | account-events | "
                     "counter --name=lng2-count", deploy=True)
            f.wait_status("lng2", "deployed")
            for e in tapped_events(f, "lng2.account-events"):
                assert e["app"] == "account-events", e
            time.sleep(1)
            assert f.counter("lng-count") == 3000, f.counter("lng-count")


def test_keys_survive_flowd_restart():
    """The key pairs are recorded: after flowd was killed, the adopted apps
    and an app started again meanwhile keep the keys they had and still
    talk to each other and to flowd over tcp://; undeploying removes the
    instances' keys files."""
    with Flowd() as f:
        f.create("tkr", "load-sim --rate=1000 | account-events | "
                 "counter --name=tkr-count")
        f.create("tkrw", ":tkr.account-events > counter --name=tkr-tap",
                 deploy=True)
        f.deploy("tkr", TCP)
        f.wait_status("tkr", "deployed")
        wait_for("the counter", lambda: f.counter("tkr-count"))
        wait_for("the tap counter", lambda: f.counter("tkr-tap"))
        flowd_keys = os.path.join(f.data_dir, "flowd.keys")

        def inst_keys():
            return sorted(glob.glob(os.path.join(f.data_dir, "run", "*",
                                                 ".flow-keys")))

        def keys():
            out = {"flowd": read_keys(flowd_keys)}
            for p in inst_keys():
                out[os.path.basename(os.path.dirname(p))] = read_keys(p)
            return out
        before = keys()
        mid = [i for i in f.instances("tkr")
               if i["label"] == "account-events"][0]
        f.kill9()
        os.kill(mid["pid"], signal.SIGKILL)
        f.start()
        f.wait_status("tkr", "deployed")
        f.wait_status("tkrw", "deployed")
        assert keys() == before, (before, keys())
        now = [i for i in f.instances("tkr")
               if i["label"] == "account-events"][0]
        assert now["pid"] != mid["pid"], (mid, now)
        c, t = f.counter("tkr-count"), f.counter("tkr-tap")
        wait_for("the counter rising after the restart",
                 lambda: f.counter("tkr-count") > c + 1000, 30)
        wait_for("the tap counter rising after the restart",
                 lambda: f.counter("tkr-tap") > t + 1000, 30)
        for e in tapped_events(f, "tkr.load-sim"):
            assert e["app"] == "load-sim", e
        for s in ("tkrw", "tkr"):
            f.json("DELETE", f"/streams/deployments/{s}")
        assert inst_keys() == [], inst_keys()


def test_mixed_transports_meet():
    """A consumer reads one destination from a producer over tcp:// (CURVE)
    and one over ipc:// (no security mechanism) on one input socket, and
    counts every event of both."""
    # The transports are what is tested here, so the three streams run
    # without a guarantee: under exactly-once each producer joining the
    # destination restarts the region, a case of its own (docs/guarantees.md).
    none = {"flow.guarantee": "none"}
    with Flowd() as f:
        f.create("mixc", ":mixd > counter --name=mix-in")
        f.deploy("mixc", none)
        f.wait_status("mixc", "deployed")
        f.create("mixt", "load-sim --count=2000 --rate=1000 > :mixd")
        f.deploy("mixt", dict(TCP, **none))
        f.create("mixi", "load-sim --count=2000 --rate=1000 > :mixd")
        f.deploy("mixi", none)
        for s in ("mixt", "mixi"):
            f.wait_status(s, "deployed")
        eps = {s: f.instances(s)[0]["endpoints"]["output"][0]
               for s in ("mixt", "mixi")}
        assert eps["mixt"].startswith("tcp://"), eps
        assert eps["mixi"].startswith("ipc://"), eps
        inst = os.path.join(f.data_dir, "run")
        kt = read_keys(os.path.join(inst, "mixt.load-sim-0", ".flow-keys"))
        kc = read_keys(os.path.join(inst, "mixc.counter-0", ".flow-keys"))
        ki = read_keys(os.path.join(inst, "mixi.load-sim-0", ".flow-keys"))
        # The producer admits its destination's reader, not the other
        # producer.
        assert kc["public"][0] in kt["allow"], (kc, kt)
        assert ki["public"][0] not in kt["allow"], (ki, kt)
        wait_for("every event", lambda: f.counter("mix-in") == 4000, 60)
        time.sleep(1)
        assert f.counter("mix-in") == 4000, f.counter("mix-in")


TESTS = {
    "ipc_sockets_private": test_ipc_sockets_private,
    "tcp_endpoints_admit_named_peers": test_tcp_endpoints_admit_named_peers,
    "long_data_dir_uses_curve_tcp": test_long_data_dir_uses_curve_tcp,
    "keys_survive_flowd_restart": test_keys_survive_flowd_restart,
    "mixed_transports_meet": test_mixed_transports_meet,
}

if __name__ == "__main__":
    run(TESTS)
