"""Legitimate behaviour: a simulated clock with a daily rhythm, and ordinary purchases.

Arrivals follow a non-homogeneous Poisson process whose hourly intensity has a
night trough and lunch / evening peaks. Each event picks a card by activity
weight; the card's customer decides the rest: spending level, favourite
category, online share, usual devices and IPs, home country. Customers travel
now and then (a per customer-day hash decides), buy abroad online, and get new
phones, so "new country" or "new device" alone is no proof of fraud.
"""

from __future__ import annotations

import numpy as np

from fraudstream.generate.columns import NO_ACCOUNT, NO_DEVICE, NO_IP, Columns
from fraudstream.generate.population import (
    _COUNTRY_OCTET,
    ATM,
    CASH_OUT,
    CAT,
    CAT_MEDIAN,
    CAT_PURCHASE_P,
    CAT_SIGMA,
    COUNTRIES,
    ECOM,
    EPHEMERAL_DEVICE_BASE,
    POS,
    PURCHASE,
    TRANSFER,
    TX_TRANSFER,
    UTC_OFFSET_H,
    Population,
    Shard,
)

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
# Relative transaction intensity per UTC hour (normalised to mean 1 below).
_HOURLY = np.array(
    [
        *(0.25, 0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.6, 0.9, 1.1, 1.25, 1.4),
        *(1.55, 1.45, 1.35, 1.3, 1.35, 1.5, 1.65, 1.7, 1.5, 1.15, 0.8, 0.45),
    ]
)
HOURLY_INTENSITY = _HOURLY / _HOURLY.mean()
PEAK_INTENSITY = float(HOURLY_INTENSITY.max())
_CAT_CDF = np.cumsum(CAT_PURCHASE_P)
TRAVEL_PER_CUSTOMER_DAY = 0.015
CROSS_BORDER_ECOM = 0.08
NEW_DEVICE_P = 0.003
ATM_P, TRANSFER_P = 0.05, 0.04
MOBILE_NAT_P, MOBILE_GATEWAYS = 0.15, 48


class DailyClock:
    """Arrival times of a Poisson process with the hourly intensity above.

    Works in "operational time" (expected events so far), where arrivals are a
    unit-rate Poisson process, and maps back through the piecewise-linear
    cumulative intensity, so a chunk of arrivals is a cumsum and a searchsorted.

    Example:
        >>> clock = DailyClock(start_ms=0, events_per_day=86_400.0)
        >>> t = clock.arrivals(np.random.default_rng(1), 1000)
        >>> bool((np.diff(t) >= 0).all()), int(t[0]) >= 0
        (True, True)
    """

    def __init__(
        self, start_ms: int, events_per_day: float, hourly: np.ndarray = HOURLY_INTENSITY
    ) -> None:
        self.events_per_day = max(events_per_day, 1e-9)
        self._day0 = start_ms - start_ms % DAY_MS
        per_hour = hourly / hourly.sum() * self.events_per_day
        self._per_ms = per_hour / HOUR_MS
        self._cum = np.concatenate([[0.0], np.cumsum(per_hour)])
        self._s = self._operational(start_ms - self._day0)

    def _operational(self, ms: float) -> float:
        day, rest = divmod(ms, DAY_MS)
        hour = int(rest // HOUR_MS)
        within = rest - hour * HOUR_MS
        return float(day * self.events_per_day + self._cum[hour] + within * self._per_ms[hour])

    def arrivals(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """The next ``n`` arrival times (epoch ms, non-decreasing)."""
        s = self._s + np.cumsum(rng.exponential(1.0, size=n))
        self._s = float(s[-1]) if n else self._s
        day = np.floor(s / self.events_per_day)
        rest = s - day * self.events_per_day
        hour = np.clip(np.searchsorted(self._cum, rest, side="right") - 1, 0, 23)
        ms = day * DAY_MS + hour * HOUR_MS + (rest - self._cum[hour]) / self._per_ms[hour]
        return np.maximum.accumulate(self._day0 + np.floor(ms).astype(np.int64))


def mix(a: np.ndarray, b: np.ndarray, salt: int) -> np.ndarray:
    """A 64-bit hash of two integer arrays (splitmix64 finaliser), deterministic."""
    x = a.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    x ^= b.astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9) + np.uint64(salt)
    x ^= x >> np.uint64(31)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(29)
    return x


def legit_events(
    rng: np.random.Generator, pop: Population, shard: Shard, t: np.ndarray, salt: int
) -> Columns:
    """Ordinary transactions for the cards of ``shard`` at (a subset of) times ``t``.

    ``t`` are candidate times at the peak rate; each is kept with the daily
    intensity of the chosen customer's *local* hour (thinning), so every country
    follows its own day.
    """
    card = shard.legit_cards[np.searchsorted(shard.legit_cdf, rng.random(len(t)), side="right")]
    home = pop.customer_country[pop.card_customer[card]].astype(np.int64)
    local_hour = (t // HOUR_MS + UTC_OFFSET_H[home]) % 24
    keep = rng.random(len(t)) * PEAK_INTENSITY < HOURLY_INTENSITY[local_hour]
    t, card, home = t[keep], card[keep], home[keep]
    n = len(t)
    cust = pop.card_customer[card]
    n_countries = len(COUNTRIES)
    u = rng.random((8, n))

    # Travel is decided per customer and day, so a trip lasts the whole day.
    h = mix(cust, t // DAY_MS, salt)
    travelling = (h % np.uint64(100_000)).astype(np.int64) < TRAVEL_PER_CUSTOMER_DAY * 100_000
    dest = (home + 1 + (h >> np.uint64(20)).astype(np.int64) % (n_countries - 1)) % n_countries
    here = np.where(travelling, dest, home)

    channel = np.where(u[0] < pop.customer_ecom_share[cust], ECOM, POS).astype(np.int8)
    channel[u[1] < ATM_P] = ATM
    channel[u[1] > 1.0 - TRANSFER_P] = TRANSFER
    category = np.searchsorted(_CAT_CDF, u[2] * _CAT_CDF[-1], side="right")
    category = np.where(u[3] < 0.3, pop.customer_fav_category[cust], category)
    category = np.minimum(category, len(_CAT_CDF) - 1)
    category[channel == ATM] = CAT["atm"]
    category[channel == TRANSFER] = CAT["transfer"]
    is_ecom = channel == ECOM
    abroad_online = rng.integers(0, n_countries, n)
    country = np.where(channel == TRANSFER, home, here)
    country = np.where(is_ecom & (u[4] < CROSS_BORDER_ECOM), abroad_online, country)
    cells = pop.merchant_counts[country, category]
    # Squaring the uniform skews towards each cell's first (most popular) merchants.
    merchant = pop.merchant_offsets[country, category] + (u[5] ** 2 * cells).astype(np.int64)

    amount = (
        CAT_MEDIAN[category]
        * pop.customer_spend[cust]
        * np.exp(CAT_SIGMA[category] * rng.standard_normal(n))
    )
    amount = np.clip(amount, 0.5, 25_000.0)
    atm = channel == ATM
    amount[atm] = np.maximum(20.0, np.round(amount[atm] / 20.0) * 20.0)
    tx_type = np.full(n, PURCHASE, dtype=np.int8)
    tx_type[atm] = CASH_OUT
    tx_type[channel == TRANSFER] = TX_TRANSFER

    online = is_ecom | (channel == TRANSFER)
    slot = (u[6] * pop.customer_n_devices[cust]).astype(np.int64)
    device = np.where(online, pop.customer_devices[cust, slot], NO_DEVICE)
    fresh = online & (u[7] < NEW_DEVICE_P)
    device[fresh] = EPHEMERAL_DEVICE_BASE + rng.integers(0, 1 << 31, int(fresh.sum()))
    ip_slot = (u[7] * pop.customer_n_ips[cust]).astype(np.int64)
    # Abroad, the customer's phone gets a local IP (same for the whole day).
    trip_ip = (_COUNTRY_OCTET[here] << np.uint32(24)) | (h & np.uint64(0xFFFFFF)).astype(np.uint32)
    ip = np.where(travelling, trip_ip, pop.customer_ips[cust, ip_slot])
    # Phones on mobile data sit behind carrier-grade NAT: a few IPs per country
    # shared by many customers, so a shared IP alone is not suspicious either.
    mobile = online & ~travelling & (u[3] > 1.0 - MOBILE_NAT_P)
    gateway = (h >> np.uint64(40)).astype(np.int64) % MOBILE_GATEWAYS
    nat_ip = (_COUNTRY_OCTET[home] << np.uint32(24)) | (0xFFFF00 + gateway).astype(np.uint32)
    ip = np.where(mobile, nat_ip, ip)
    ip = np.where(online, ip, NO_IP).astype(np.uint32)

    # Transfers go mostly to one of three usual payees, sometimes to anyone.
    payee = (mix(cust, rng.integers(0, 3, n), salt + 1) % np.uint64(pop.n_customers)).astype(
        np.int64
    )
    payee = np.where(u[4] < 0.2, rng.integers(0, pop.n_customers, n), payee)
    payee = np.where(payee == cust, (payee + 1) % pop.n_customers, payee)
    counterparty = np.where(channel == TRANSFER, payee, NO_ACCOUNT)
    return Columns.build(
        n,
        t=t,
        card=card,
        merchant=merchant,
        amount=np.round(amount, 2),
        channel=channel,
        tx_type=tx_type,
        device=device,
        ip=ip,
        counterparty=counterparty,
    )


_SHOPPING = (CAT["retail"], CAT["restaurants"], CAT["grocery"], CAT["entertainment"], CAT["fuel"])
SHOPPING_SESSION_P = 0.001  # sessions per legitimate event


def shopping_session(rng: np.random.Generator, pop: Population, shard: Shard, t0: int) -> Columns:
    """A legitimate burst: 4-8 card-present purchases at different shops within an hour.

    Real customers do this (a mall, a market day); without it, "many merchants in
    minutes" would single out stolen-card sprees with no false positives.
    """
    n = int(rng.integers(4, 9))
    card = int(shard.legit_cards[np.searchsorted(shard.legit_cdf, rng.random(), side="right")])
    cust = int(pop.card_customer[card])
    home = int(pop.customer_country[cust])
    cat = rng.choice(_SHOPPING, n)
    merchant = pop.merchant_offsets[home, cat] + (
        rng.random(n) * pop.merchant_counts[home, cat]
    ).astype(np.int64)
    amount = (
        CAT_MEDIAN[cat] * pop.customer_spend[cust] * np.exp(CAT_SIGMA[cat] * rng.standard_normal(n))
    )
    gaps = 60_000 + rng.exponential(6 * 60_000, n - 1)
    return Columns.build(
        n,
        t=t0 + np.concatenate([[0], np.cumsum(gaps)]).astype(np.int64),
        card=card,
        merchant=merchant,
        amount=np.round(np.clip(amount, 0.5, 25_000.0), 2),
        channel=POS,
        tx_type=PURCHASE,
    )
