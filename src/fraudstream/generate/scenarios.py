"""Fraud scenarios: each a pure function drawing one short scripted sequence.

Every function takes ``(rng, pop, shard, t0)`` and returns :class:`Columns`
that start at ``t0`` and are all labelled with the scenario. Each leaves the
signal a detector should learn:

- ``card_testing``: 6-20 micro amounts (0.01-2.00) on one card within minutes,
  online, at a few card-testing merchants, from a fraudster's device and IP.
- ``account_takeover``: a new device and an IP from another country, a small
  probe, then 2-5 purchases or transfers at 4-15x the customer's usual spend.
- ``stolen_card_spree``: 6-15 purchases at distinct merchants within minutes.
- ``fraud_ring``: several synthetic accounts sharing 3 devices, 2 IPs and 3
  merchants; amounts and per-card velocity are normal, only the graph links them.
- ``mule_chain``: a TRANSFER to a mule's account, mule-to-mule transfers minutes
  apart (a small cut kept each hop), then a CASH_OUT by the last mule.
- ``high_amount``: one or two large, round amounts at jewelry / electronics /
  travel merchants.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fraudstream.generate.columns import SCENARIO_CODE, Columns
from fraudstream.generate.population import (
    ATM,
    CASH_OUT,
    CAT,
    CAT_MEDIAN,
    COUNTRIES,
    ECOM,
    EPHEMERAL_DEVICE_BASE,
    POS,
    PURCHASE,
    TRANSFER,
    TX_TRANSFER,
    Population,
    Shard,
    random_ips,
)

Scenario = Callable[[np.random.Generator, Population, Shard, int], Columns]
SECOND_MS = 1000
MINUTE_MS = 60_000
_BIG_TICKET = (CAT["electronics"], CAT["jewelry"], CAT["travel"])
_SPREE = (CAT["retail"], CAT["electronics"], CAT["fuel"], CAT["jewelry"], CAT["grocery"])


def _times(
    rng: np.random.Generator, t0: int, n: int, mean_gap_ms: float, min_ms: int
) -> np.ndarray:
    gaps = min_ms + rng.exponential(mean_gap_ms, n - 1)
    return t0 + np.concatenate([[0], np.cumsum(gaps)]).astype(np.int64)


def _victim(rng: np.random.Generator, shard: Shard) -> int:
    return int(shard.legit_cards[rng.integers(len(shard.legit_cards))])


def _foreign(rng: np.random.Generator, home: int) -> int:
    return (home + 1 + int(rng.integers(len(COUNTRIES) - 1))) % len(COUNTRIES)


def _merchants(
    rng: np.random.Generator, pop: Population, country: int, categories: tuple[int, ...], n: int
) -> np.ndarray:
    cat = rng.choice(categories, n)
    offs, counts = pop.merchant_offsets[country, cat], pop.merchant_counts[country, cat]
    return offs + (rng.random(n) * counts).astype(np.int64)


def _fresh_device(rng: np.random.Generator) -> int:
    return EPHEMERAL_DEVICE_BASE + int(rng.integers(0, 1 << 31))


def _label(name: str, cols: Columns) -> Columns:
    cols.scenario[:] = SCENARIO_CODE[name]
    return cols


def card_testing(rng: np.random.Generator, pop: Population, shard: Shard, t0: int) -> Columns:
    n = int(rng.integers(6, 21))
    card = _victim(rng, shard)
    k = int(rng.integers(len(pop.fraud_devices)))
    shops = rng.choice(pop.testing_merchants, size=2)
    # Testers rotate proxies now and then but keep the same browser fingerprint.
    ip = np.where(rng.random(n) < 0.3, rng.choice(pop.fraud_ips, n), pop.fraud_ips[k])
    amount = np.where(rng.random(n) < 0.3, 1.0, np.round(rng.uniform(0.01, 2.0, n), 2))
    return _label(
        "card_testing",
        Columns.build(
            n,
            t=_times(rng, t0, n, 15 * SECOND_MS, 2 * SECOND_MS),
            card=card,
            merchant=shops[(rng.random(n) < 0.25).astype(np.int64)],
            amount=np.maximum(amount, 0.01),
            channel=ECOM,
            tx_type=PURCHASE,
            device=pop.fraud_devices[k],
            ip=ip,
        ),
    )


def account_takeover(rng: np.random.Generator, pop: Population, shard: Shard, t0: int) -> Columns:
    card = _victim(rng, shard)
    cust = int(pop.card_customer[card])
    home = int(pop.customer_country[cust])
    abroad = _foreign(rng, home)
    n = 1 + int(rng.integers(2, 6))
    shop_country = abroad if rng.random() < 0.5 else home
    merchant = _merchants(rng, pop, shop_country, _BIG_TICKET, n)
    merchant[0] = _merchants(rng, pop, shop_country, (CAT["digital_goods"],), 1)[0]
    scale = CAT_MEDIAN[pop.merchant_category[merchant]] * pop.customer_spend[cust]
    amount = np.round(scale * rng.uniform(4.0, 15.0, n), 2)
    amount[0] = round(float(rng.uniform(1.0, 15.0)), 2)
    # Some takeovers drain the account by transfer instead of buying goods.
    transfer = (rng.random(n) < 0.3) & (np.arange(n) > 0)
    payee = rng.integers(0, pop.n_customers)
    return _label(
        "account_takeover",
        Columns.build(
            n,
            t=_times(rng, t0, n, 6 * MINUTE_MS, 30 * SECOND_MS),
            card=card,
            merchant=np.where(transfer, pop.merchant_offsets[home, CAT["transfer"]], merchant),
            amount=amount,
            channel=np.where(transfer, TRANSFER, ECOM),
            tx_type=np.where(transfer, TX_TRANSFER, PURCHASE),
            device=_fresh_device(rng),
            ip=random_ips(rng, np.array([abroad]))[0],
            counterparty=np.where(transfer, payee, -1),
        ),
    )


def stolen_card_spree(rng: np.random.Generator, pop: Population, shard: Shard, t0: int) -> Columns:
    n = int(rng.integers(6, 16))
    card = _victim(rng, shard)
    home = int(pop.customer_country[pop.card_customer[card]])
    where = home if rng.random() < 0.5 else _foreign(rng, home)
    # A spree never goes back to the same shop: distinct merchants while there are enough.
    pool = np.concatenate(
        [np.arange(pop.merchant_counts[where, c]) + pop.merchant_offsets[where, c] for c in _SPREE]
    )
    merchant = rng.choice(pool, size=n, replace=len(pool) < n)
    online = rng.random() < 0.3
    k = int(rng.integers(len(pop.fraud_devices)))
    scale = CAT_MEDIAN[pop.merchant_category[merchant]]
    return _label(
        "stolen_card_spree",
        Columns.build(
            n,
            t=_times(rng, t0, n, 100 * SECOND_MS, 20 * SECOND_MS),
            card=card,
            merchant=merchant,
            amount=np.round(scale * rng.uniform(1.0, 4.0, n), 2),
            channel=ECOM if online else POS,
            tx_type=PURCHASE,
            device=pop.fraud_devices[k] if online else -1,
            ip=pop.fraud_ips[k] if online else 0,
        ),
    )


def fraud_ring(rng: np.random.Generator, pop: Population, shard: Shard, t0: int) -> Columns:
    if len(shard.rings) == 0:
        return high_amount(rng, pop, shard, t0)
    ring = int(rng.choice(shard.rings))
    members = pop.ring_members[ring]
    members = members[members >= 0]
    if len(members) == 0:  # a tiny population can leave a ring without identities
        return high_amount(rng, pop, shard, t0)
    n = int(rng.integers(6, 17))
    pick = rng.integers(0, 3, n)
    t = t0 + np.sort(rng.integers(0, int(rng.uniform(1, 4) * 3_600_000), n))
    t[0] = t0
    return _label(
        "fraud_ring",
        Columns.build(
            n,
            t=np.sort(t),
            card=pop.customer_card[rng.choice(members, n)],
            merchant=pop.ring_merchants[ring, pick],
            amount=np.round(np.clip(rng.lognormal(np.log(70.0), 0.5, n), 5.0, 400.0), 2),
            channel=ECOM,
            tx_type=PURCHASE,
            device=pop.ring_devices[ring, pick],
            ip=pop.ring_ips[ring, rng.integers(0, 2, n)],
        ),
    )


def mule_chain(rng: np.random.Generator, pop: Population, shard: Shard, t0: int) -> Columns:
    if len(shard.mules) < 2:
        return account_takeover(rng, pop, shard, t0)
    hops = int(rng.integers(2, min(4, len(shard.mules)) + 1))
    mules = rng.choice(shard.mules, size=hops, replace=False)
    victim = _victim(rng, shard)
    n = hops + 1
    senders = np.concatenate([[victim], pop.customer_card[mules]])
    receivers = np.concatenate([mules, [-1]])
    # Each mule keeps a cut before passing the money on.
    amount = (
        float(rng.integers(8, 90)) * 100.0 * np.cumprod(np.r_[1.0, rng.uniform(0.9, 0.97, hops)])
    )
    home = pop.customer_country[pop.card_customer[senders]].astype(np.int64)
    merchant = pop.merchant_offsets[home, CAT["transfer"]]
    last_atm = amount[-1] <= 1000
    channel = np.full(n, TRANSFER)
    tx_type = np.full(n, TX_TRANSFER)
    tx_type[-1] = CASH_OUT
    if last_atm:
        channel[-1] = ATM
        merchant[-1] = pop.merchant_offsets[home[-1], CAT["atm"]]
        amount[-1] = np.floor(amount[-1] / 20.0) * 20.0
    cust = pop.card_customer[senders]
    device = pop.customer_devices[cust, 0]
    ip = pop.customer_ips[cust, 0]
    if rng.random() < 0.5:  # victim's account taken over rather than a scammed victim
        device[0], ip[0] = _fresh_device(rng), random_ips(rng, np.array([_foreign(rng, 0)]))[0]
    if last_atm:
        device[-1], ip[-1] = -1, 0
    return _label(
        "mule_chain",
        Columns.build(
            n,
            t=_times(rng, t0, n, 5 * MINUTE_MS, MINUTE_MS),
            card=senders,
            merchant=merchant,
            amount=np.round(amount, 2),
            channel=channel,
            tx_type=tx_type,
            device=device,
            ip=ip,
            counterparty=receivers,
        ),
    )


def high_amount(rng: np.random.Generator, pop: Population, shard: Shard, t0: int) -> Columns:
    n = int(rng.integers(1, 3))
    card = _victim(rng, shard)
    home = int(pop.customer_country[pop.card_customer[card]])
    where = home if rng.random() < 0.7 else _foreign(rng, home)
    amount = rng.choice([500, 1000, 1500, 2000, 2500, 3000, 4000, 5000, 7500, 9900, 10_000], n)
    online = rng.random() < 0.5
    k = int(rng.integers(len(pop.fraud_devices)))
    return _label(
        "high_amount",
        Columns.build(
            n,
            t=_times(rng, t0, n, 20 * MINUTE_MS, MINUTE_MS),
            card=card,
            merchant=_merchants(rng, pop, where, _BIG_TICKET, n),
            amount=amount.astype(np.float64),
            channel=ECOM if online else POS,
            tx_type=PURCHASE,
            device=pop.fraud_devices[k] if online else -1,
            ip=pop.fraud_ips[k] if online else 0,
        ),
    )


SCENARIO_FUNCTIONS: dict[str, Scenario] = {
    "card_testing": card_testing,
    "account_takeover": account_takeover,
    "stolen_card_spree": stolen_card_spree,
    "fraud_ring": fraud_ring,
    "mule_chain": mule_chain,
    "high_amount": high_amount,
}
# Mean records per instance, used to turn record shares into instance probabilities.
MEAN_LENGTH = {
    "card_testing": 13.0,
    "account_takeover": 4.5,
    "stolen_card_spree": 10.5,
    "fraud_ring": 11.0,
    "mule_chain": 4.0,
    "high_amount": 1.5,
}
