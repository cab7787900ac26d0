#!/usr/bin/python3
"""Taps under load through a real flowd: a viewer (a subscriber to an
app's tap endpoint, flowctl tap) may drop, but every drop is counted in
`drops` of the tapped instance (REST), so that what a subscriber received
plus those drops is exactly what the instance sent from the subscriber's
first event on (a subscriber sees nothing sent before its subscription
reached the app). A deployed tap stream drops nothing.

The source writes to a named destination that a second stream counts, so
that it holds its events until the subscriber is there; the equations
hold wherever the subscriber starts.

Run one test: test_taps.py NAME; all: test_taps.py.
"""

import json
import os
import signal
import time

import msgpack
import zmq

from flowd_harness import Flowd, FlowctlTap, run, wait_for


def source_of(f, stream):
    """The load-sim instance of stream, as REST shows it."""
    return [i for i in f.instances(stream) if i["label"] == "load-sim"][0]


def tap_endpoint(f, stream):
    def ep():
        tap = source_of(f, stream)["endpoints"]["tap"]
        return tap[0] if isinstance(tap, list) else tap
    wait_for("a tap endpoint", ep)
    tap = ep()
    return tap[1:] if tap[0] in "@>" else tap


def finished(f, stream, n):
    """The source has sent its n events and exited: its counts are final."""
    wait_for(f"{stream} completed", lambda: (
        source_of(f, stream)["state"] == "completed"), timeout=120,
        interval=0.2)
    src = source_of(f, stream)
    assert src["out"] == n, src
    return src


def test_slow_subscriber_drops_are_counted():
    """A pyzmq subscriber that stops reading while a million events go by,
    then reads the rest, to the tap's end of stream."""
    n = 1000000
    with Flowd() as f:
        ctx = zmq.Context()
        try:
            f.create("tapped", f"load-sim --count={n} --rate=0 > :tap-d",
                     deploy=True)
            sub = ctx.socket(zmq.SUB)
            sub.setsockopt(zmq.SUBSCRIBE, b"")
            sub.setsockopt(zmq.RCVHWM, 4)
            sub.connect(tap_endpoint(f, "tapped"))
            f.wait_status("tapped", "deployed")
            f.create("tap-count", ":tap-d > counter --name=tap-n",
                     deploy=True)
            got, first, ended = 0, None, False
            deadline = time.time() + 180
            while not ended and time.time() < deadline:
                if not sub.poll(1000):
                    continue
                events = msgpack.unpackb(sub.recv(), raw=False)[4]
                if not events:
                    ended = True  # the tap's last message
                    continue
                if first is None:
                    first = events[0][4]
                    # Stop reading until the source has sent everything:
                    # far more than the queues between hold.
                    wait_for("the source sent everything", lambda: (
                        source_of(f, "tapped")["out"] == n), timeout=120,
                        interval=0.2)
                got += len(events)
            assert ended, f"no end of stream on the tap ({got} events)"
            src = finished(f, "tapped", n)
            sent = n - (first - 1)
            assert src["drops"] > 0, src
            assert got + src["drops"] == sent, (got, src["drops"], sent)
            wait_for("the copy counted", lambda: f.counter("tap-n") == n,
                     timeout=120, interval=0.2)
            print(f"received {got} + drops {src['drops']} == sent {sent}")
        finally:
            ctx.destroy(linger=0)


def test_flowctl_tap_counts():
    """`flowctl tap` of a fast source: the events it prints plus the
    source's drops are what the source sent from the first one printed."""
    n = 300000
    with Flowd() as f:
        f.create("fast", f"load-sim --count={n} --rate=0 > :fast-d",
                 deploy=True)
        f.wait_status("fast", "deployed")
        with FlowctlTap(f, "fast.load-sim") as tap:
            lines = tap.lines
            # flowctl has looked the tap up and subscribed when it waits
            # in its poll; the equation holds in any case.
            time.sleep(1)
            f.create("fast-count", ":fast-d > counter --name=fast-n",
                     deploy=True)
            src = finished(f, "fast", n)
            wait_for("at least one event tapped", lambda: lines, timeout=60)
            first = json.loads(lines[0])["seq"]
            sent = n - (first - 1)

            def balanced():
                return len(lines) + src["drops"] == sent
            try:
                wait_for("tapped + drops == sent", balanced, timeout=60,
                         interval=0.2)
            except Exception:
                raise AssertionError((len(lines), src["drops"], sent))
            print(f"flowctl printed {len(lines)} + drops {src['drops']} "
                  f"== sent {sent}")


def test_tap_stream_is_lossless():
    """A tap stream whose first app stops taking events (SIGSTOP) while a
    million go by: it reads an output group of the tapped source, which
    waits for it (as for a named destination's consumer group) instead of
    dropping, so it receives every event the source sent, and the source
    drops none."""
    n = 1000000
    with Flowd() as f:
        f.create("tapped", f"load-sim --count={n} --rate=0 > :relay-d",
                 deploy=True)
        f.wait_status("tapped", "deployed")
        f.create("watch", ":tapped.load-sim > account-events | "
                 "counter --name=relay-n", deploy=True)
        f.wait_status("watch", "deployed")
        slow = [i for i in f.instances("watch")
                if i["label"] == "account-events"][0]["pid"]
        os.kill(slow, signal.SIGSTOP)
        try:
            f.create("relay-count", ":relay-d > counter --name=relay-all",
                     deploy=True)
            time.sleep(3)
        finally:
            os.kill(slow, signal.SIGCONT)
        src = finished(f, "tapped", n)
        assert src["drops"] == 0, src

        def received():
            return [i for i in f.instances("watch")
                    if i["label"] == "account-events"][0]["in"]
        wait_for("the tap stream received everything",
                 lambda: received() >= n, timeout=60, interval=0.2)
        assert received() == n, received()
        print(f"tap stream received {received()} of {n}, source drops "
              f"{src['drops']}")


TESTS = {
    "slow_subscriber_drops_are_counted":
        test_slow_subscriber_drops_are_counted,
    "flowctl_tap_counts": test_flowctl_tap_counts,
    "tap_stream_is_lossless": test_tap_stream_is_lossless,
}

if __name__ == "__main__":
    run(TESTS)
