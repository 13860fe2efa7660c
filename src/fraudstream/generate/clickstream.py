"""Click-stream simulator: the shopper events of the seed's event producer, plus fraud bots.

Legitimate traffic follows the seed exactly: the event type is drawn uniformly
from five types; an error probability is drawn per event from U(0, 0.5) and
decides SUCCESS or ERROR; only errors carry a 4xx/5xx code; only VIEW_PRODUCT
and ADD_TO_CART carry a product id (1..10000); latency is 50..1500 ms; after
each event a session ends with a small probability and a new user and
session take its place, otherwise the session goes on. Many sessions run at
once (``events_per_second`` x ``think_time_ms``), each with its own clock, so
a person acts every few seconds while the stream as a whole runs at the
configured rate.

Fraud bots give the graph model something to find. A new session is a bot
with ``bot_session_probability``, running one of four scripts (``bot_weights``):

* ``checkout_hammer``: a card-testing bot adds one of a small set of *hot*
  products to the cart, then fires CHECKOUT/PAYMENT in quick succession,
  mostly failing (402/403/429/5xx), with fast scripted latencies.
* ``scraper``: rapid SEARCH / VIEW_PRODUCT over consecutive product ids.
* ``account_farm``: card testing at human pace behind a small pool of farmed
  accounts (the event has no IP or device, so the shared identity is the
  ``user_id``: each account opens many sessions); it browses, carts a hot
  product and retries CHECKOUT/PAYMENT with more failures than a person.
* ``slow_scraper``: a low-and-slow catalogue scraper at human pace and
  latency, one new user per session, whose product views fall in a shared
  target segment of ``n_target_products`` products.

The first two are easy (machine timing and latency). The last two act at
human think time and latency, and a share ``bot_mimic_probability`` of them
also copies the human event-type mix and error rate: such a session is
only told apart by what it shares with other sessions (accounts reused
across sessions, products co-visited by other bots) and by part of its
product choice (a share ``bot_noise_products`` of its views are random),
which is what the user-session-product graph sees.

Ground truth is *not* part of the event (the schema stays the seed's): it
travels beside it, as the Kafka header ``fraudstream-label`` and as
``is_fraud``/``fraud_scenario`` keys in JSONL output.

Example:
    >>> gen = ClickstreamGenerator(ClickstreamConfig(seed=7), start_time_ms=0)
    >>> evs = gen.take(3)
    >>> [e.event["event_type"] in EVENT_TYPES for e in evs]
    [True, True, True]
    >>> ClickstreamGenerator(ClickstreamConfig(seed=7), start_time_ms=0).take(3) == evs
    True
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

EVENT_TYPES = ("ADD_TO_CART", "CHECKOUT", "PAYMENT", "SEARCH", "VIEW_PRODUCT")
PRODUCT_EVENTS = frozenset({"VIEW_PRODUCT", "ADD_TO_CART"})
STATUSES = ("SUCCESS", "ERROR")
LABEL_HEADER = "fraudstream-label"
SCENARIOS = ("checkout_hammer", "scraper", "account_farm", "slow_scraper")
HUMAN_PACED = frozenset({"account_farm", "slow_scraper"})
_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)
_BOT_ERROR_CODES = (402, 402, 402, 403, 429, 429, 500, 503)


@dataclass(frozen=True, slots=True)
class ClickstreamConfig:
    """Shape of the simulated traffic (one worker's stream).

    Attributes:
        seed: fixes the stream; worker ``i`` derives its own stream from it.
        new_session_probability: after each legitimate event, the chance to
            switch to a new user and session (the seed's 0.01).
        returning_user_probability: chance that a new legitimate session
            belongs to a user seen before (0: always a new user, as the seed).
        bot_session_probability: chance that a new session is a fraud bot.
        max_error_probability: per-event error probability is U(0, this).
        events_per_second: mean event rate of the whole stream (one worker).
        think_time_ms: mean time between two actions of one person.
        n_products: product ids are 1..n_products.
        n_hot_products: products the card-testing bots target.
        bot_weights: relative share of each bot script (``SCENARIOS`` order).
        bot_mimic_probability: share of human-paced bots that also copy the
            human event-type mix and error rate.
        bot_noise_products: share of a human-paced bot's product picks that
            are random products, as a person's are.
        n_farm_accounts: accounts the ``account_farm`` bots rotate through.
        n_target_products: size of the ``slow_scraper`` target segment.
    """

    seed: int = 42
    new_session_probability: float = 0.01
    returning_user_probability: float = 0.0
    bot_session_probability: float = 0.02
    max_error_probability: float = 0.5
    events_per_second: float = 100.0
    think_time_ms: float = 5_000.0
    n_products: int = 10_000
    n_hot_products: int = 20
    bot_weights: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    bot_mimic_probability: float = 0.5
    bot_noise_products: float = 0.3
    n_farm_accounts: int = 25
    n_target_products: int = 60

    def __post_init__(self) -> None:
        if len(self.bot_weights) != len(SCENARIOS) or min(self.bot_weights) < 0:
            raise ValueError(f"bot_weights needs {len(SCENARIOS)} non-negative weights")
        if sum(self.bot_weights) <= 0 or min(self.n_farm_accounts, self.n_target_products) < 1:
            raise ValueError("bot_weights must not all be 0; pools need at least one member")
        for name in (
            "new_session_probability",
            "returning_user_probability",
            "bot_session_probability",
            "max_error_probability",
            "bot_mimic_probability",
            "bot_noise_products",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if (
            min(self.events_per_second, self.think_time_ms, self.n_products, self.n_hot_products)
            <= 0
        ):
            raise ValueError("rates, think time and product counts must be positive")

    @property
    def concurrent_sessions(self) -> int:
        """How many sessions are open at once to reach ``events_per_second``."""
        return max(1, round(self.events_per_second * self.think_time_ms / 1000.0))


@dataclass(frozen=True, slots=True)
class LabelledEvent:
    """A user event (fields of ``user_event.avsc``) and its ground truth."""

    event: dict[str, Any]
    is_fraud: bool
    scenario: str | None = None

    def label_headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers carrying the ground truth beside the Avro value."""
        label = {"is_fraud": self.is_fraud, "fraud_scenario": self.scenario}
        return [(LABEL_HEADER, orjson.dumps(label))]

    def jsonl_record(self) -> dict[str, Any]:
        """The event with ``is_fraud`` and ``fraud_scenario`` added (JSONL output)."""
        return {**self.event, "is_fraud": self.is_fraud, "fraud_scenario": self.scenario}


def label_from_headers(
    headers: Iterable[tuple[str, bytes | str | None]] | None,
) -> tuple[bool, str | None] | None:
    """The ground truth ``(is_fraud, fraud_scenario)`` of a consumed message, if labelled.

    Example:
        >>> label_from_headers([(LABEL_HEADER, b'{"is_fraud":true,"fraud_scenario":"scraper"}')])
        (True, 'scraper')
        >>> label_from_headers([]) is None
        True
    """
    for name, value in headers or ():
        if name == LABEL_HEADER and value is not None:
            try:
                label = orjson.loads(value)
                return bool(label["is_fraud"]), label.get("fraud_scenario")
            except (orjson.JSONDecodeError, KeyError, TypeError):
                return None
    return None


def _format_uuid(bits: int) -> str:
    """A version-4 UUID string from 128 random bits."""
    h = "%032x" % ((bits & _UUID_CLEAR) | _UUID_SET)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(slots=True)
class _Session:
    user_id: str
    session_id: str
    scenario: str | None = None
    script: list[tuple[str, int | None]] = field(default_factory=list)
    mimic: bool = False  # a human-paced bot that also copies the human error rate


class ClickstreamGenerator:
    """Deterministic stream of labelled user events for one worker.

    Args:
        config: traffic shape.
        worker_id: workers with the same seed and different ids produce
            different, reproducible streams.
        start_time_ms: timestamp of the first event (epoch millis, UTC).
    """

    def __init__(
        self, config: ClickstreamConfig, *, worker_id: int = 0, start_time_ms: int
    ) -> None:
        self.config = config
        self._rng = random.Random(f"fraudstream-clickstream:{config.seed}:{worker_id}")
        hot = random.Random(f"fraudstream-hot-products:{config.seed}")  # shared by all workers
        n_hot = min(config.n_hot_products, config.n_products)
        self.hot_products = tuple(hot.sample(range(1, config.n_products + 1), n_hot))
        # shared by all workers too: the scraping campaign's segment, the farmed accounts
        n_target = min(config.n_target_products, config.n_products)
        seg_start = hot.randint(1, config.n_products)
        self.target_products = tuple(
            (seg_start + i - 1) % config.n_products + 1 for i in range(n_target)
        )
        self.farm_accounts = tuple(
            _format_uuid(hot.getrandbits(128)) for _ in range(config.n_farm_accounts)
        )
        self._bot_cum = list(itertools.accumulate(config.bot_weights))
        self._users: list[str] = []
        self._seq = itertools.count()
        # (next event time, tie-breaker, session): the session due first acts next
        self._due: list[tuple[float, int, _Session]] = []
        for _ in range(config.concurrent_sessions):
            first = start_time_ms + self._rng.uniform(0.0, config.think_time_ms)
            heapq.heappush(self._due, (first, next(self._seq), self._new_session()))

    def __iter__(self) -> Iterator[LabelledEvent]:
        while True:
            yield self.next_event()

    def take(self, n: int) -> list[LabelledEvent]:
        """The next ``n`` events."""
        return [self.next_event() for _ in range(n)]

    def next_event(self) -> LabelledEvent:
        """Generate the next event in time order and advance its session."""
        rng, cfg = self._rng, self.config
        at, _, s = heapq.heappop(self._due)
        ts = int(at)
        if s.scenario is None:
            out = LabelledEvent(self._legit_event(s, ts), False, None)
            ended = rng.random() < cfg.new_session_probability
            gap = rng.expovariate(1.0 / cfg.think_time_ms)
        else:
            event_type, product_id = s.script.pop(0)
            out = LabelledEvent(self._bot_event(s, event_type, product_id, ts), True, s.scenario)
            ended = not s.script
            if s.scenario in HUMAN_PACED:
                gap = rng.expovariate(1.0 / cfg.think_time_ms)
            else:
                gap = rng.uniform(50.0, 300.0)  # scripted bots fire far faster than people
        if ended:
            s = self._new_session()
        heapq.heappush(self._due, (at + gap, next(self._seq), s))
        return out

    # -- sessions
    def _uuid(self) -> str:
        # a version-4 UUID from the seeded generator (uuid4() would break determinism);
        # formatted by hand because uuid.UUID(...) costs a third of the event
        return _format_uuid(self._rng.getrandbits(128))

    def _new_session(self) -> _Session:
        rng, cfg = self._rng, self.config
        if rng.random() < cfg.bot_session_probability:
            scenario = rng.choices(SCENARIOS, cum_weights=self._bot_cum)[0]
            mimic = scenario in HUMAN_PACED and rng.random() < cfg.bot_mimic_probability
            script = self._script(scenario, mimic)
            user = self._uuid()
            if scenario == "account_farm":
                user = self.farm_accounts[rng.randrange(len(self.farm_accounts))]
            return _Session(user, self._uuid(), scenario, script, mimic)
        if self._users and rng.random() < cfg.returning_user_probability:
            user = self._users[rng.randrange(len(self._users))]
        else:
            user = self._uuid()
            self._users.append(user)
            if len(self._users) > 10_000:  # bounded memory on endless runs
                self._users.pop(0)
        return _Session(user, self._uuid())

    def _script(self, scenario: str, mimic: bool = False) -> list[tuple[str, int | None]]:
        rng = self._rng
        if scenario in HUMAN_PACED:
            return self._human_paced_script(scenario, mimic)
        if scenario == "checkout_hammer":
            product = self.hot_products[rng.randrange(len(self.hot_products))]
            steps: list[tuple[str, int | None]] = [("ADD_TO_CART", product)]
            for _ in range(rng.randint(15, 40)):
                steps.append((rng.choice(("CHECKOUT", "PAYMENT", "PAYMENT")), None))
            return steps
        start = rng.randint(1, self.config.n_products)
        out: list[tuple[str, int | None]] = []
        for i in range(rng.randint(20, 60)):
            pid = (start + i - 1) % self.config.n_products + 1
            out.append(("SEARCH", None) if i % 5 == 0 else ("VIEW_PRODUCT", pid))
        return out

    def _human_paced_script(self, scenario: str, mimic: bool) -> list[tuple[str, int | None]]:
        """A bot that acts at human pace; ``mimic`` ones draw event types as people do."""
        rng, cfg = self._rng, self.config
        if scenario == "account_farm":
            pool, n = self.hot_products, rng.randint(8, 30)
            # skewed to CHECKOUT/PAYMENT unless mimicking (then uniform, as a person)
            weights = (1, 1, 1, 1, 1) if mimic else (2, 3, 4, 1, 1)
        else:
            pool, n = self.target_products, rng.randint(15, 60)
            weights = (1, 1, 1, 1, 1) if mimic else (1, 0, 0, 2, 5)
        types = rng.choices(EVENT_TYPES, weights=weights, k=n)
        out: list[tuple[str, int | None]] = []
        for t in types:
            pid = None
            if t in PRODUCT_EVENTS:
                noise = rng.random() < cfg.bot_noise_products
                pid = rng.randint(1, cfg.n_products) if noise else pool[rng.randrange(len(pool))]
            out.append((t, pid))
        return out

    # -- events
    def _legit_event(self, s: _Session, ts: int) -> dict[str, Any]:
        rng, cfg = self._rng, self.config
        event_type = EVENT_TYPES[rng.randrange(5)]
        error_probability = rng.uniform(0.0, cfg.max_error_probability)
        has_error = rng.random() < error_probability
        return {
            "event_id": self._uuid(),
            "user_id": s.user_id,
            "session_id": s.session_id,
            "event_type": event_type,
            "event_timestamp": ts,
            "request_latency_ms": rng.randint(50, 1500),
            "status": "ERROR" if has_error else "SUCCESS",
            "error_code": rng.randint(400, 599) if has_error else None,
            "product_id": rng.randint(1, cfg.n_products) if event_type in PRODUCT_EVENTS else None,
        }

    def _bot_event(
        self, s: _Session, event_type: str, product_id: int | None, ts: int
    ) -> dict[str, Any]:
        rng = self._rng
        if s.scenario in HUMAN_PACED:
            # people's error probability is U(0, max); a non-mimic bot fails more often
            top = self.config.max_error_probability
            p_err = rng.uniform(0.0, top) if s.mimic else rng.uniform(top / 2, min(1.0, top * 1.5))
            has_error = rng.random() < p_err
            code = rng.randint(400, 599) if has_error else None
            latency = rng.randint(50, 1500)
        elif s.scenario == "checkout_hammer":
            has_error = event_type != "ADD_TO_CART" and rng.random() < 0.8
            code = _BOT_ERROR_CODES[rng.randrange(len(_BOT_ERROR_CODES))] if has_error else None
            latency = rng.randint(50, 200)
        else:
            has_error = rng.random() < 0.05
            code = 429 if has_error else None
            latency = rng.randint(50, 120)
        return {
            "event_id": self._uuid(),
            "user_id": s.user_id,
            "session_id": s.session_id,
            "event_type": event_type,
            "event_timestamp": ts,
            "request_latency_ms": latency,
            "status": "ERROR" if has_error else "SUCCESS",
            "error_code": code,
            "product_id": product_id if event_type in PRODUCT_EVENTS else None,
        }
