"""Fraud roles inside a population: rings, mules and the merchants testers use.

Kept apart from :mod:`fraudstream.generate.population` so the world's ordinary
structure and its criminal structure can be read separately.
"""

from __future__ import annotations

import numpy as np

from fraudstream.generate.population import CAT, random_ips

RING_SIZES = (3, 8)  # inclusive bounds of a fraud ring's number of accounts
_RING_CATEGORIES = (CAT["electronics"], CAT["digital_goods"], CAT["retail"], CAT["jewelry"])
_TESTING_CATEGORIES = (CAT["online_services"], CAT["digital_goods"], CAT["entertainment"])


def _merchants_of(
    m_category: np.ndarray, m_country: np.ndarray, categories: tuple[int, ...], country: int = -1
) -> np.ndarray:
    mask = np.isin(m_category, categories)
    if country >= 0:
        mask &= m_country == country
    return np.flatnonzero(mask)


def draw_roles(
    rng: np.random.Generator,
    n_customers: int,
    customer_country: np.ndarray,
    m_category: np.ndarray,
    m_country: np.ndarray,
    fraud_devices: np.ndarray,
) -> dict[str, np.ndarray]:
    """Pick fraud-ring identities, money mules and card-testing merchants.

    Rings: a few accounts of one country that share 2-3 devices, 1-2 IPs and 3
    merchants; ring members take no part in legitimate traffic (they are
    synthetic identities). Mules: ordinary customers whose accounts also launder.
    Ring devices come out of ``fraud_devices``; the rest stay fraudsters' pool.
    """
    n_rings = max(2, n_customers // 4000)
    hi = RING_SIZES[1]
    members = np.full((n_rings, hi), -1, dtype=np.int64)
    taken = np.zeros(n_customers, dtype=bool)
    ring_merchants = np.zeros((n_rings, 3), dtype=np.int64)
    ring_country = np.zeros(n_rings, dtype=np.int64)
    for r in range(n_rings):
        # A ring's identities live in one country, like a real synthetic-identity farm.
        country = int(customer_country[rng.integers(n_customers)])
        pool = np.flatnonzero((customer_country == country) & ~taken)
        size = min(int(rng.integers(RING_SIZES[0], hi + 1)), len(pool))
        chosen = rng.choice(pool, size=size, replace=False)
        members[r, :size] = chosen
        taken[chosen] = True
        ring_country[r] = country
        shops = _merchants_of(m_category, m_country, _RING_CATEGORIES, country)
        ring_merchants[r] = rng.choice(shops, size=3, replace=len(shops) < 3)
    ring_devices = fraud_devices[: n_rings * 3].reshape(n_rings, 3).copy()
    ring_ips = random_ips(rng, np.repeat(ring_country, 2)).reshape(n_rings, 2)

    n_mules = max(8, n_customers // 1000)
    free = np.flatnonzero(~taken)
    mules = np.sort(rng.choice(free, size=min(n_mules, len(free)), replace=False))

    testers = _merchants_of(m_category, m_country, _TESTING_CATEGORIES)
    testing = rng.choice(testers, size=min(12, len(testers)), replace=False)
    return {
        "ring_members": members,
        "ring_devices": ring_devices,
        "ring_ips": ring_ips,
        "ring_merchants": ring_merchants,
        "mule_customers": mules,
        "fraud_devices": fraud_devices[n_rings * 3 :].copy(),
        "testing_merchants": np.sort(testing),
    }
