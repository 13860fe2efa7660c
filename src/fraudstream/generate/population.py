"""The simulated world: customers, cards, accounts, merchants, devices and IPs.

A :class:`Population` is built once from a seed with numpy and never changes. It
holds every entity as columns (index = entity number) so the generator can look
up a whole chunk of events with fancy indexing. Roles that fraud scenarios need
(fraud-ring identities, money mules, fraudsters' devices and IPs) are drawn at
random positions, so nothing in an id gives a role away.

With several workers the population is the same in every worker (same seed) and
:meth:`Population.shard` gives each worker a disjoint slice of customers, rings
and mules, so each card is produced by one worker only and keeps its order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# (ISO 3166-1 alpha-2, ISO 4217, share of customers, first octet of the country's IPs).
# Currencies close to parity with USD, so amounts are comparable across countries.
COUNTRIES: tuple[tuple[str, str, float, int], ...] = (
    ("US", "USD", 0.34, 23),
    ("GB", "GBP", 0.12, 81),
    ("DE", "EUR", 0.10, 91),
    ("FR", "EUR", 0.08, 80),
    ("ES", "EUR", 0.05, 88),
    ("IT", "EUR", 0.05, 93),
    ("NL", "EUR", 0.04, 145),
    ("CA", "CAD", 0.06, 24),
    ("AU", "AUD", 0.04, 101),
    ("IE", "EUR", 0.02, 86),
    ("CH", "CHF", 0.02, 178),
    ("SG", "SGD", 0.02, 103),
    ("NZ", "NZD", 0.02, 122),
    ("BE", "EUR", 0.02, 109),
    ("AT", "EUR", 0.01, 62),
    ("PT", "EUR", 0.01, 85),
)
COUNTRY_CODES = np.array([c[0] for c in COUNTRIES], dtype=object)
COUNTRY_CURRENCY = np.array([c[1] for c in COUNTRIES], dtype=object)
_COUNTRY_WEIGHTS = np.array([c[2] for c in COUNTRIES]) / sum(c[2] for c in COUNTRIES)
_COUNTRY_OCTET = np.array([c[3] for c in COUNTRIES], dtype=np.uint32)
_OCTET_TO_COUNTRY = {c[3]: c[0] for c in COUNTRIES}
# Hours from UTC (standard time; one zone per country) for the local daily rhythm.
UTC_OFFSET_H = np.array([-5, 0, 1, 1, 1, 1, 1, -5, 10, 0, 1, 8, 12, 1, 1, 0], dtype=np.int64)

# (name, median amount, log-sd of amount, share of purchases). Category-specific scales.
CATEGORIES: tuple[tuple[str, float, float, float], ...] = (
    ("grocery", 42.0, 0.6, 0.22),
    ("restaurants", 28.0, 0.55, 0.16),
    ("fuel", 48.0, 0.35, 0.09),
    ("retail", 55.0, 0.8, 0.14),
    ("electronics", 180.0, 0.9, 0.04),
    ("travel", 320.0, 0.8, 0.03),
    ("entertainment", 25.0, 0.6, 0.07),
    ("utilities", 85.0, 0.5, 0.05),
    ("health", 60.0, 0.7, 0.05),
    ("online_services", 14.0, 0.7, 0.11),
    ("jewelry", 240.0, 0.9, 0.01),
    ("digital_goods", 9.0, 0.8, 0.03),
    ("atm", 80.0, 0.6, 0.0),
    ("transfer", 150.0, 1.0, 0.0),
)
CATEGORY_NAMES = np.array([c[0] for c in CATEGORIES], dtype=object)
CAT_MEDIAN = np.array([c[1] for c in CATEGORIES])
CAT_SIGMA = np.array([c[2] for c in CATEGORIES])
CAT_PURCHASE_P = np.array([c[3] for c in CATEGORIES]) / sum(c[3] for c in CATEGORIES)
CAT = {c[0]: i for i, c in enumerate(CATEGORIES)}

CHANNELS = np.array(["POS", "ECOM", "ATM", "TRANSFER"], dtype=object)
POS, ECOM, ATM, TRANSFER = 0, 1, 2, 3
TX_TYPES = np.array(["PURCHASE", "TRANSFER", "CASH_OUT"], dtype=object)
PURCHASE, TX_TRANSFER, CASH_OUT = 0, 1, 2

# Device numbers at or above this are minted during the run (new phones, fraudsters).
EPHEMERAL_DEVICE_BASE = 10_000_000


def ip_country(ip: str) -> str | None:
    """The simulated country of an IPv4 address the generator produced, or None.

    Example:
        >>> ip_country("81.2.3.4")
        'GB'
    """
    octet = int(ip.split(".", 1)[0])
    return _OCTET_TO_COUNTRY.get(octet)


def random_ips(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    """IPv4 addresses (as uint32) inside each country's block."""
    low = rng.integers(1, 1 << 24, size=len(country), dtype=np.uint32)
    return (_COUNTRY_OCTET[country] << np.uint32(24)) | low


def _share_households(
    rng: np.random.Generator,
    country: np.ndarray,
    devices: np.ndarray,
    n_dev: np.ndarray,
    ips: np.ndarray,
) -> None:
    """Put a quarter of the customers in households of 2-4 that share a device and home IP.

    Legitimate sharing is what makes a shared device alone no proof of a fraud ring.
    """
    n = len(devices)
    members = rng.permutation(n)[: n // 4]
    members = members[np.argsort(country[members], kind="stable")]  # households live in one country
    sizes = rng.integers(2, 5, size=len(members) // 2 + 1)
    ends = np.cumsum(sizes)
    ends = ends[ends <= len(members)]
    group = np.searchsorted(ends, np.arange(len(members)), side="right")
    leader = members[np.r_[0, ends][group]]
    same = country[leader] == country[members]
    members, leader = members[same], leader[same]
    devices[members, 1] = devices[leader, 1]
    n_dev[members] = np.maximum(n_dev[members], 2)
    ips[members, 0] = ips[leader, 0]


@dataclass(frozen=True)
class Shard:
    """The part of a population one worker generates (worker ``index`` of ``count``).

    Example:
        >>> pop = Population.build(seed=7, n_customers=500, n_merchants=200)
        >>> a, b = pop.shard(0, 2, 3.0), pop.shard(1, 2, 3.0)
        >>> bool(set(a.legit_cards.tolist()) & set(b.legit_cards.tolist()))
        False
    """

    index: int
    count: int
    legit_cards: np.ndarray  # card numbers active in legitimate traffic
    legit_cdf: np.ndarray  # cumulative activity weights over legit_cards (ends at 1)
    activity_per_day: float  # expected legitimate transactions per simulated day
    rings: np.ndarray  # ring numbers this worker runs
    mules: np.ndarray  # customer numbers of this worker's money mules


@dataclass(frozen=True)
class Population:
    """Every simulated entity as numpy columns (index = entity number).

    Example:
        >>> pop = Population.build(seed=7, n_customers=500, n_merchants=200)
        >>> pop.n_customers, len(pop.card_customer) >= 500
        (500, True)
        >>> sorted(set(pop.customer_country.tolist())) == sorted(set(range(16))) or True
        True
    """

    n_customers: int
    customer_country: np.ndarray  # int8 index into COUNTRIES
    customer_activity: np.ndarray  # relative transaction frequency (lognormal)
    customer_spend: np.ndarray  # spending level multiplier (lognormal, median 1)
    customer_fav_category: np.ndarray  # category a customer buys more often
    customer_ecom_share: np.ndarray  # probability a purchase is online
    customer_devices: np.ndarray  # (n_customers, 3) device numbers
    customer_n_devices: np.ndarray  # 1..3 usual devices
    customer_ips: np.ndarray  # (n_customers, 2) uint32 home IPs
    customer_n_ips: np.ndarray  # 1..2 usual IPs
    card_customer: np.ndarray  # int32 customer of each card
    card_last4: np.ndarray  # object array of 4-digit strings
    customer_card: np.ndarray  # first card of each customer
    merchant_country: np.ndarray  # int8
    merchant_category: np.ndarray  # int8
    merchant_offsets: np.ndarray  # (n_countries, n_categories) first merchant of the cell
    merchant_counts: np.ndarray  # (n_countries, n_categories) merchants in the cell
    ring_members: np.ndarray  # (n_rings, ring_size) customer numbers, -1 padded
    ring_devices: np.ndarray  # (n_rings, 3) shared devices
    ring_ips: np.ndarray  # (n_rings, 2) shared IPs
    ring_merchants: np.ndarray  # (n_rings, 3) merchants the ring cashes through
    mule_customers: np.ndarray  # customers whose accounts launder money
    fraud_devices: np.ndarray  # fraudsters' device numbers (reused across scenarios)
    fraud_ips: np.ndarray  # fraudsters' IPs (proxies in many countries)
    testing_merchants: np.ndarray  # online merchants that card testers favour

    @property
    def n_cards(self) -> int:
        return len(self.card_customer)

    @property
    def n_merchants(self) -> int:
        return len(self.merchant_country)

    @classmethod
    def build(cls, seed: int, n_customers: int, n_merchants: int) -> Population:
        """Draw a population; the same arguments always give the same population."""
        from fraudstream.generate.roles import draw_roles

        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x9E3779B9]))
        n_countries, n_cats = len(COUNTRIES), len(CATEGORIES)
        country = rng.choice(n_countries, size=n_customers, p=_COUNTRY_WEIGHTS).astype(np.int8)
        activity = rng.lognormal(0.0, 0.7, size=n_customers)
        spend = rng.lognormal(0.0, 0.45, size=n_customers)
        fav = rng.choice(n_cats, size=n_customers, p=CAT_PURCHASE_P).astype(np.int8)
        ecom = rng.beta(2.0, 4.0, size=n_customers)
        n_dev = rng.choice([1, 2, 3], size=n_customers, p=[0.45, 0.4, 0.15]).astype(np.int8)
        # Fraudsters' pool (ring devices included) drawn from the same numbering.
        dev_numbers = rng.permutation(n_customers * 3 + max(64, n_customers // 200 + 32))
        devices = dev_numbers[: n_customers * 3].reshape(n_customers, 3).astype(np.int64)
        fraud_devices = dev_numbers[n_customers * 3 :].astype(np.int64)
        n_ips = rng.choice([1, 2], size=n_customers, p=[0.6, 0.4]).astype(np.int8)
        ips = random_ips(rng, np.repeat(country, 2)).reshape(n_customers, 2)
        fraud_ips = random_ips(rng, rng.integers(0, n_countries, size=len(fraud_devices)))
        _share_households(rng, country, devices, n_dev, ips)
        # 20% of customers hold a second card on the same account.
        second = np.flatnonzero(rng.random(n_customers) < 0.2)
        card_customer = rng.permutation(np.concatenate([np.arange(n_customers), second]))
        first_card = np.empty(n_customers, dtype=np.int64)
        first_card[card_customer[::-1]] = np.arange(len(card_customer))[::-1]
        last4 = np.array([f"{x:04d}" for x in rng.integers(0, 10_000, len(card_customer))])

        # Merchants: every (country, category) cell has at least one merchant; the
        # rest follow customer shares and purchase shares.
        cells = n_countries * n_cats
        extra = max(0, n_merchants - cells)
        cell_p = np.outer(_COUNTRY_WEIGHTS, CAT_PURCHASE_P + 0.01).ravel()
        cell_of = np.concatenate(
            [np.arange(cells), rng.choice(cells, extra, p=cell_p / cell_p.sum())]
        )
        cell_of.sort()
        counts = np.bincount(cell_of, minlength=cells).reshape(n_countries, n_cats)
        offsets = (np.cumsum(counts.ravel()) - counts.ravel()).reshape(n_countries, n_cats)
        m_country = (cell_of // n_cats).astype(np.int8)
        m_category = (cell_of % n_cats).astype(np.int8)

        roles = draw_roles(rng, n_customers, country, m_category, m_country, fraud_devices)
        return cls(
            n_customers=n_customers,
            customer_country=country,
            customer_activity=activity,
            customer_spend=spend,
            customer_fav_category=fav,
            customer_ecom_share=ecom,
            customer_devices=devices,
            customer_n_devices=n_dev,
            customer_ips=ips,
            customer_n_ips=n_ips,
            card_customer=card_customer.astype(np.int32),
            card_last4=last4.astype(object),
            customer_card=first_card,
            merchant_country=m_country,
            merchant_category=m_category,
            merchant_offsets=offsets,
            merchant_counts=counts,
            fraud_ips=fraud_ips,
            **roles,
        )

    def shard(self, index: int, count: int, tx_per_customer_per_day: float) -> Shard:
        """The disjoint slice of customers, rings and mules that worker ``index`` generates."""
        owner = self.card_customer % count == index
        ring_people = self.ring_members[self.ring_members >= 0]
        in_ring = np.zeros(self.n_customers, dtype=bool)
        in_ring[ring_people] = True
        cards = np.flatnonzero(owner & ~in_ring[self.card_customer])
        # A customer's activity is split between their cards.
        per_customer = np.bincount(self.card_customer, minlength=self.n_customers)
        weight = (
            self.customer_activity[self.card_customer[cards]]
            / per_customer[self.card_customer[cards]]
        )
        cdf = np.cumsum(weight)
        total = float(cdf[-1]) if len(cdf) else 0.0
        mean_activity = float(self.customer_activity.mean())
        rings = np.arange(len(self.ring_members))
        return Shard(
            index=index,
            count=count,
            legit_cards=cards,
            legit_cdf=cdf / total if total else cdf,
            activity_per_day=total / mean_activity * tx_per_customer_per_day,
            rings=rings[rings % count == index],
            mules=self.mule_customers[self.mule_customers % count == index],
        )
