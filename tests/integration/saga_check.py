"""The order saga's invariants (docs/apps.md "The order saga"), checked
over the events of an order log: what the file sinks of :orders and
:order-commands hold, one JSON payload a line, in any interleaving of the
two files (each file's own order is kept).

check(events, ...) returns the list of violations (empty: the log is
sound); outcomes(events) counts the final events; expected(...) works out
what order-sim's seed gives when no sku runs out of stock, as order-sim
and payment compute it.
"""

import json

FINAL = ("OrderCompleted", "OrderCancelled")
M64 = (1 << 64) - 1


def read_log(*paths):
    """The payloads of the JSON-lines files, file after file."""
    events = []
    for p in paths:
        with open(p) as fh:
            for line in fh:
                if line.strip():
                    events.append(json.loads(line))
    return events


def outcomes(events):
    """{"completed": N, "cancelled": N, "reasons": {reason: N}}."""
    out = {"completed": 0, "cancelled": 0, "reasons": {}}
    for e in events:
        if e.get("type") == "OrderCompleted":
            out["completed"] += 1
        elif e.get("type") == "OrderCancelled":
            out["cancelled"] += 1
            r = e.get("reason")
            out["reasons"][r] = out["reasons"].get(r, 0) + 1
    return out


def check(events, orders=None, skus=None, stock=None, accounts=None,
          funds=None):
    """The violations of the saga's invariants in events, as sentences.

    orders: the number of orders placed (1 to orders), when known: each
    must be there and ended. skus/stock, accounts/funds: the inventory's
    and payment's options, when known: the stock and funds each answer
    reports are then replayed from them."""
    bad = []
    by_order = {}
    for e in events:
        o = e.get("order")
        if not isinstance(o, int):
            bad.append(f"an event without an order id: {e}")
            continue
        by_order.setdefault(o, []).append(e)

    if orders is not None:
        missing = [o for o in range(1, orders + 1) if o not in by_order]
        if missing:
            bad.append(f"{len(missing)} orders have no event, e.g. "
                       f"{missing[:5]}")
        extra = [o for o in by_order if not 1 <= o <= orders]
        if extra:
            bad.append(f"events of orders never placed: {extra[:5]}")

    charged = 0
    completed = 0
    for o, evs in sorted(by_order.items()):
        n = {}
        for e in evs:
            n[e.get("type")] = n.get(e.get("type"), 0) + 1
        dup = sorted(t for t, c in n.items() if c > 1)
        if dup:
            bad.append(f"order {o}: {', '.join(dup)} more than once")
        placed = [e for e in evs if e.get("type") == "OrderPlaced"]
        if not placed:
            bad.append(f"order {o}: no OrderPlaced")
            continue
        p = placed[0]
        final = [e for e in evs if e.get("type") in FINAL]
        held = n.get("InventoryReserved", 0) - n.get("InventoryReleased", 0)
        charges = n.get("PaymentCharged", 0)
        charged += sum(e.get("amount", 0) for e in evs
                       if e.get("type") == "PaymentCharged")
        if len(final) != 1:
            bad.append(f"order {o}: {len(final)} final events, not one")
            continue
        f = final[0]
        if f["type"] == "OrderCompleted":
            completed += p.get("amount", 0)
            if held != 1 or n.get("InventoryReserved", 0) != 1:
                bad.append(f"order {o}: completed with {held} "
                           f"reservations held, not one")
            if charges != 1 or n.get("PaymentFailed", 0):
                bad.append(f"order {o}: completed with {charges} charges "
                           f"made, not one")
            if f.get("amount") != p.get("amount"):
                bad.append(f"order {o}: completed for {f.get('amount')}, "
                           f"placed for {p.get('amount')}")
            continue
        reason = f.get("reason")
        if held != 0:
            bad.append(f"order {o}: cancelled ({reason}) with {held} "
                       f"reservations held")
        if charges != 0:
            bad.append(f"order {o}: cancelled ({reason}) with {charges} "
                       f"charges outstanding")
        if reason == "out-of-stock":
            if not n.get("InventoryOutOfStock") or f.get("compensated"):
                bad.append(f"order {o}: cancelled out-of-stock without "
                           f"InventoryOutOfStock, or compensated")
        elif reason in ("declined", "insufficient-funds"):
            failed = [e for e in evs if e.get("type") == "PaymentFailed"]
            if not failed or failed[0].get("reason") != reason:
                bad.append(f"order {o}: cancelled {reason} without a "
                           f"PaymentFailed of that reason")
            if not f.get("compensated") or not n.get("InventoryReleased"):
                bad.append(f"order {o}: cancelled {reason} without its "
                           f"reservation released (compensated)")
        else:
            bad.append(f"order {o}: cancelled with reason {reason!r}")

    if charged != completed:
        bad.append(f"the charges sum to {charged}, the completed orders "
                   f"to {completed}")

    level = {}
    for e in events:
        t = e.get("type")
        if t in ("InventoryReserved", "InventoryOutOfStock",
                 "InventoryReleased"):
            s = e.get("stock")
            if not isinstance(s, int) or s < 0:
                bad.append(f"order {e.get('order')}: {t} leaves sku "
                           f"{e.get('sku')} at stock {s}")
                continue
            if stock is None:
                continue
            sku = e.get("sku")
            cur = level.get(sku, stock if 1 <= sku <= skus else 0)
            want = {"InventoryReserved": cur - e.get("qty", 0),
                    "InventoryReleased": cur + e.get("qty", 0),
                    "InventoryOutOfStock": cur}[t]
            if t == "InventoryOutOfStock" and cur >= e.get("qty", 0):
                bad.append(f"order {e.get('order')}: out of stock with "
                           f"{cur} of sku {sku} on hand")
            if s != want or want < 0:
                bad.append(f"order {e.get('order')}: {t} says stock {s} "
                           f"of sku {sku}, the reservations make it {want}")
            level[sku] = want
        elif t in ("PaymentCharged", "PaymentFailed"):
            fu = e.get("funds")
            if not isinstance(fu, int) or fu < 0:
                bad.append(f"order {e.get('order')}: {t} leaves account "
                           f"{e.get('account')} at funds {fu}")
    return bad


def _mix(x):
    x = (x + 0x9e3779b97f4a7c15) & M64
    x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & M64
    x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & M64
    return x ^ (x >> 31)


def sim_order(seed, i, accounts, skus, failure, out_of_stock):
    """Order i of order-sim --seed=seed, as order-sim makes it."""
    base = _mix(seed & M64)

    def rnd(j):
        return _mix(base ^ ((i * 8 + j) & M64))

    def unit(r):
        return (r >> 11) * 2.0 ** -53

    account = 1 + rnd(0) % accounts
    oos = unit(rnd(1)) < out_of_stock
    sku = (skus + 1 if oos else 1) + rnd(2) % skus
    qty = 1 + rnd(3) % 3
    amount = qty * (100 + rnd(4) % 4901)
    declined = unit(rnd(5)) < failure
    return {"order": i, "account": account, "sku": sku, "qty": qty,
            "amount": amount, "card": "declined" if declined else "valid"}


def expected(seed, orders, accounts, skus, failure, out_of_stock, funds):
    """The outcomes (as outcomes() gives them) of orders 1 to orders when
    the stocked skus never run short: the charges reach payment in order
    id order, so each account's funds are spent in that order."""
    left = {}
    out = {"completed": 0, "cancelled": 0, "reasons": {}}
    for i in range(1, orders + 1):
        o = sim_order(seed, i, accounts, skus, failure, out_of_stock)
        if o["sku"] > skus:
            r = "out-of-stock"
        elif o["card"] == "declined":
            r = "declined"
        elif left.get(o["account"], funds) < o["amount"]:
            r = "insufficient-funds"
        else:
            left[o["account"]] = left.get(o["account"], funds) - o["amount"]
            out["completed"] += 1
            continue
        out["cancelled"] += 1
        out["reasons"][r] = out["reasons"].get(r, 0) + 1
    return out
