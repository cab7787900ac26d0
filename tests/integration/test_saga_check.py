#!/usr/bin/python3
"""saga_check.py, fed a sound saga log and bad ones made from it: each
violation of the saga's invariants must be caught, and expected() must
agree with a log built from order-sim's orders."""

import copy
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import saga_check  # noqa: E402

SKUS, STOCK, ACCOUNTS, FUNDS = 3, 10, 2, 1000


def sound():
    """A log of four orders: completed, out of stock, declined and
    insufficient funds, with the stock and funds the apps would report."""
    ev = []

    def placed(o, acct, sku, qty, amount, card="valid"):
        ev.append({"type": "OrderPlaced", "order": o, "account": acct,
                   "sku": sku, "qty": qty, "amount": amount, "card": card})

    def final(o, t, amount, **kw):
        ev.append({"type": t, "order": o, "amount": amount, **kw})

    placed(1, 1, 1, 2, 600)
    ev.append({"type": "ReserveInventory", "order": 1, "sku": 1, "qty": 2})
    ev.append({"type": "InventoryReserved", "order": 1, "sku": 1, "qty": 2,
               "stock": 8})
    ev.append({"type": "ChargePayment", "order": 1, "account": 1,
               "amount": 600})
    ev.append({"type": "PaymentCharged", "order": 1, "account": 1,
               "amount": 600, "funds": 400})
    final(1, "OrderCompleted", 600)
    placed(2, 2, 4, 1, 100)
    ev.append({"type": "InventoryOutOfStock", "order": 2, "sku": 4,
               "qty": 1, "stock": 0})
    final(2, "OrderCancelled", 100, reason="out-of-stock",
          compensated=False)
    placed(3, 2, 2, 1, 100, "declined")
    ev.append({"type": "InventoryReserved", "order": 3, "sku": 2, "qty": 1,
               "stock": 9})
    ev.append({"type": "PaymentFailed", "order": 3, "account": 2,
               "amount": 100, "funds": 1000, "reason": "declined"})
    ev.append({"type": "InventoryReleased", "order": 3, "sku": 2, "qty": 1,
               "stock": 10})
    final(3, "OrderCancelled", 100, reason="declined", compensated=True)
    placed(4, 1, 1, 1, 500)
    ev.append({"type": "InventoryReserved", "order": 4, "sku": 1, "qty": 1,
               "stock": 7})
    ev.append({"type": "PaymentFailed", "order": 4, "account": 1,
               "amount": 500, "funds": 400, "reason": "insufficient-funds"})
    ev.append({"type": "InventoryReleased", "order": 4, "sku": 1, "qty": 1,
               "stock": 8})
    final(4, "OrderCancelled", 500, reason="insufficient-funds",
          compensated=True)
    return ev


def check(ev):
    return saga_check.check(ev, orders=4, skus=SKUS, stock=STOCK)


class SagaCheck(unittest.TestCase):
    def caught(self, ev, text):
        bad = check(ev)
        self.assertTrue(any(text in b for b in bad), (text, bad))

    def test_sound(self):
        self.assertEqual(check(sound()), [])
        self.assertEqual(saga_check.outcomes(sound()), {
            "completed": 1, "cancelled": 3, "reasons": {
                "out-of-stock": 1, "declined": 1,
                "insufficient-funds": 1}})

    def test_order_not_ended(self):
        ev = [e for e in sound() if e["type"] != "OrderCompleted"]
        self.caught(ev, "order 1: 0 final events")

    def test_order_missing(self):
        ev = [e for e in sound() if e["order"] != 2]
        self.caught(ev, "1 orders have no event")

    def test_two_final_events(self):
        ev = sound() + [{"type": "OrderCancelled", "order": 1,
                         "reason": "declined", "compensated": True}]
        self.caught(ev, "order 1: 2 final events, not one")

    def test_event_twice(self):
        ev = sound()
        ev.insert(5, copy.deepcopy(ev[4]))  # PaymentCharged again
        self.caught(ev, "order 1: PaymentCharged more than once")
        self.caught(ev, "the charges sum to 1200, the completed orders "
                    "to 600")

    def test_completed_without_charge(self):
        ev = [e for e in sound() if e["type"] != "PaymentCharged"]
        self.caught(ev, "order 1: completed with 0 charges made")

    def test_completed_without_reservation(self):
        ev = [e for e in sound() if not (
            e["order"] == 1 and e["type"] == "InventoryReserved")]
        self.caught(ev, "order 1: completed with 0 reservations held")

    def test_cancelled_with_reservation_held(self):
        ev = [e for e in sound() if not (
            e["order"] == 3 and e["type"] == "InventoryReleased")]
        self.caught(ev, "order 3: cancelled (declined) with 1 reservations "
                    "held")

    def test_cancelled_with_charge(self):
        ev = sound()
        ev.append({"type": "PaymentCharged", "order": 4, "account": 1,
                   "amount": 500, "funds": 0})
        self.caught(ev, "order 4: cancelled (insufficient-funds) with 1 "
                    "charges outstanding")
        self.caught(ev, "the charges sum to 1100")

    def test_negative_stock(self):
        ev = sound()
        ev[2]["stock"] = -1
        self.caught(ev, "InventoryReserved leaves sku 1 at stock -1")

    def test_stock_not_what_reservations_make(self):
        ev = sound()
        ev[2]["stock"] = 9
        self.caught(ev, "InventoryReserved says stock 9 of sku 1, the "
                    "reservations make it 8")

    def test_stock_replay_below_zero(self):
        ev = sound()
        for e in ev:
            if e["order"] == 1 and e.get("qty"):
                e["qty"] = 11
        ev[2]["stock"] = -1
        self.caught(ev, "at stock -1")

    def test_out_of_stock_with_stock(self):
        ev = sound()
        ev[7]["sku"] = 3
        self.caught(ev, "order 2: out of stock with 10 of sku 3 on hand")

    def test_negative_funds(self):
        ev = sound()
        ev[4]["funds"] = -5
        self.caught(ev, "PaymentCharged leaves account 1 at funds -5")

    def test_wrong_reason(self):
        ev = sound()
        ev[-1]["reason"] = "declined"
        self.caught(ev, "order 4: cancelled declined without a "
                    "PaymentFailed of that reason")

    def test_compensation_missing(self):
        ev = sound()
        ev[-1]["compensated"] = False
        self.caught(ev, "order 4: cancelled insufficient-funds without its "
                    "reservation released")

    def test_expected_from_seed(self):
        """expected() against a fold of sim_order by hand: every order of
        the seed is classified, and the three reasons all occur."""
        n = 3000
        got = saga_check.expected(7, n, 20, 5, 0.1, 0.1, 200000)
        self.assertEqual(got["completed"] + got["cancelled"], n)
        self.assertEqual(sum(got["reasons"].values()), got["cancelled"])
        for r in ("out-of-stock", "declined", "insufficient-funds"):
            self.assertGreater(got["reasons"].get(r, 0), 0, got)
        o = saga_check.sim_order(7, 1, 20, 5, 0.1, 0.1)
        self.assertEqual(o, saga_check.sim_order(7, 1, 20, 5, 0.1, 0.1))
        self.assertNotEqual(o, saga_check.sim_order(8, 1, 20, 5, 0.1, 0.1))


if __name__ == "__main__":
    unittest.main()
