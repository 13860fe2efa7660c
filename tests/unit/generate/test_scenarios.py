"""Each fraud scenario leaves the signal it is meant to leave."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from fraudstream.generate.columns import SCENARIO_CODE, IdTables
from fraudstream.generate.population import (
    ATM,
    CASH_OUT,
    CAT_MEDIAN,
    COUNTRY_CODES,
    TRANSFER,
    TX_TRANSFER,
    Population,
    ip_country,
)
from fraudstream.generate.scenarios import (
    SCENARIO_FUNCTIONS,
    account_takeover,
    card_testing,
    fraud_ring,
    high_amount,
    mule_chain,
    stolen_card_spree,
)
from fraudstream.generate.transactions import TransactionGenerator

from .conftest import small_config

T0 = 1_767_225_600_000
MINUTE = 60_000


@pytest.fixture(scope="module")
def world() -> tuple[Population, Any]:
    pop = Population.build(seed=5, n_customers=4000, n_merchants=2000)
    return pop, pop.shard(0, 1, 3.0)


def _draws(fn: Any, world: tuple[Population, Any], n: int = 40) -> list[Any]:
    pop, shard = world
    rng = np.random.default_rng(3)
    return [fn(rng, pop, shard, T0) for _ in range(n)]


@pytest.mark.parametrize("name", sorted(SCENARIO_FUNCTIONS))
def test_scenarios_are_pure_labelled_and_start_at_t0(name: str, world: Any) -> None:
    pop, shard = world
    fn = SCENARIO_FUNCTIONS[name]
    a = fn(np.random.default_rng(9), pop, shard, T0)
    b = fn(np.random.default_rng(9), pop, shard, T0)
    assert np.array_equal(a.t, b.t) and np.array_equal(a.amount, b.amount)
    assert (a.scenario == SCENARIO_CODE[name]).all()
    assert a.t[0] == T0 and (np.diff(a.t) >= 0).all()
    assert (a.amount > 0).all()


def test_card_testing_is_a_burst_of_micro_amounts_on_one_card(world: Any) -> None:
    for c in _draws(card_testing, world):
        assert len(c) >= 6 and len(set(c.card.tolist())) == 1
        assert (c.amount <= 2.0).all()
        assert c.t[-1] - c.t[0] < 30 * MINUTE
        assert len(set(c.device.tolist())) == 1


def test_account_takeover_comes_from_a_new_device_and_country_with_high_amounts(
    world: Any,
) -> None:
    pop, _ = world
    ids = IdTables(pop)
    for c in _draws(account_takeover, world):
        cust = int(pop.card_customer[c.card[0]])
        assert not set(c.device.tolist()) & set(pop.customer_devices[cust].tolist())
        ip = ids.ip_strings(c.ip[:1])[0]
        assert ip_country(ip) not in (None, COUNTRY_CODES[pop.customer_country[cust]])
        typical = CAT_MEDIAN[pop.merchant_category[c.merchant[1:]]] * pop.customer_spend[cust]
        purchases = c.tx_type[1:] != TX_TRANSFER
        assert (c.amount[1:][purchases] >= 3.9 * typical[purchases]).all()


def test_stolen_card_spree_hits_many_merchants_in_minutes(world: Any) -> None:
    for c in _draws(stolen_card_spree, world):
        assert len(set(c.card.tolist())) == 1
        assert len(set(c.merchant.tolist())) >= 5
        assert c.t[-1] - c.t[0] < 90 * MINUTE


def test_fraud_ring_accounts_share_devices_ips_and_merchants(world: Any) -> None:
    pop, _ = world
    cards_per_device: dict[int, set[int]] = defaultdict(set)
    for c in _draws(fraud_ring, world, n=60):
        assert c.t[-1] - c.t[0] <= 4 * 3_600_000
        assert len(set(c.device.tolist())) <= 3 and len(set(c.ip.tolist())) <= 2
        assert len(set(c.merchant.tolist())) <= 3
        assert (c.amount >= 5).all() and (c.amount <= 400).all()  # normal-looking amounts
        for d, card in zip(c.device.tolist(), c.card.tolist(), strict=True):
            cards_per_device[d].add(card)
    assert max(len(s) for s in cards_per_device.values()) >= 3
    # Ring identities never show up in legitimate traffic.
    members = set(pop.ring_members[pop.ring_members >= 0].tolist())
    _, shard = world
    assert not members & set(pop.card_customer[shard.legit_cards].tolist())


def test_mule_chain_moves_money_then_the_last_mule_cashes_out(world: Any) -> None:
    pop, _ = world
    for c in _draws(mule_chain, world):
        senders = pop.card_customer[c.card]
        assert len(c) >= 3
        assert (c.tx_type[:-1] == TX_TRANSFER).all() and (c.channel[:-1] == TRANSFER).all()
        assert c.tx_type[-1] == CASH_OUT and c.channel[-1] in (ATM, TRANSFER)
        # Each transfer pays the account that sends (or cashes out) next.
        assert np.array_equal(c.counterparty[:-1], senders[1:])
        assert set(senders[1:].tolist()) <= set(pop.mule_customers.tolist())
        gaps = np.diff(c.t)
        assert (gaps >= MINUTE).all() and c.t[-1] - c.t[0] < 3 * 3_600_000
        assert (np.diff(c.amount) <= 0).all()  # mules keep a cut


def test_high_amounts_are_high_and_round(world: Any) -> None:
    for c in _draws(high_amount, world):
        assert (c.amount >= 500).all() and (c.amount % 100 == 0).all()


def test_in_the_stream_takeover_devices_are_new_to_the_card() -> None:
    cfg = small_config(fraud_rate=0.03, scenario_weights={"account_takeover": 1.0})
    gen = TransactionGenerator(cfg)
    legit_devices: dict[str, set[str]] = defaultdict(set)
    checked = 0
    for batch in gen.batches(30_000, 5000):
        for r in batch:
            if r["fraud_scenario"] == "account_takeover":
                assert r["device_id"] not in legit_devices[r["card_id"]]
                checked += 1
            elif r["device_id"]:
                legit_devices[r["card_id"]].add(r["device_id"])
    assert checked > 50


def test_every_scenario_stands_out_from_legit_traffic_on_its_signal(
    stream_records: list[dict[str, Any]],
) -> None:
    from fraudstream.bench.generator_signals import signal_table

    table = signal_table(stream_records)
    legit = table["legit"]
    expectations = {
        "card_testing": ("amount<=2", 99.0),
        "account_takeover": ("ip_abroad", 99.0),
        "stolen_card_spree": ("card_merchants_30min>=5", 30.0),
        "fraud_ring": ("device_cards>=3", 70.0),
        "mule_chain": ("transfer_or_cash_out", 99.0),
        "high_amount": ("round>=500", 99.0),
    }
    for scenario, (flag, at_least) in expectations.items():
        assert table[scenario]["records"] > 0, scenario
        assert table[scenario][flag] >= at_least, (scenario, flag, table[scenario][flag])
        assert legit[flag] < at_least / 5, (flag, legit[flag])
    # A ring is invisible per card: normal amounts, no velocity.
    assert table["fraud_ring"]["card_tx_10min>=5"] < 10.0
    assert table["fraud_ring"]["round>=500"] == 0.0
