"""How strongly each fraud scenario shows in simple per-record flags (generator check).

Streams ``--count`` generated records in order and, per scenario (and for
legitimate records), prints the share of records that raise each flag: card
velocity, distinct merchants per card, micro / round amounts, a device new to the
card, a device shared by three or more cards, IP or merchant abroad, transfer or
cash-out. Writes the table as JSON too.

Run:
    python -m fraudstream.bench.generator_signals --count 400000 --customers 50000
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from fraudstream.generate.columns import SCENARIOS
from fraudstream.generate.population import ip_country
from fraudstream.generate.transactions import GeneratorConfig, TransactionGenerator

FLAGS = (
    "card_tx_10min>=5",
    "card_merchants_30min>=5",
    "amount<=2",
    "round>=500",
    "new_device",
    "device_cards>=3",
    "ip_abroad",
    "merchant_abroad",
    "transfer_or_cash_out",
)
_PER_ONLINE = {"new_device", "device_cards>=3"}  # shares of records that carry a device


def signal_table(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per scenario ("legit" included): record count and the share raising each flag."""
    device_cards: dict[str, set[str]] = defaultdict(set)
    for r in records:
        if r["device_id"]:
            device_cards[r["device_id"]].add(r["card_id"])
    seen: dict[str, set[str]] = defaultdict(set)
    history: dict[str, list[tuple[int, str]]] = defaultdict(list)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for r in records:
        c = counts[r["fraud_scenario"] or "legit"]
        card, t = r["card_id"], r["event_time"]
        h = history[card]
        h.append((t, r["merchant_id"]))
        c["n"] += 1
        c["card_tx_10min>=5"] += sum(1 for tt, _ in h if t - tt <= 600_000) >= 5
        c["card_merchants_30min>=5"] += len({m for tt, m in h if t - tt <= 1_800_000}) >= 5
        c["amount<=2"] += r["amount"] <= 2
        c["round>=500"] += r["amount"] >= 500 and r["amount"] % 100 == 0
        if r["device_id"]:
            c["online"] += 1
            c["new_device"] += bool(seen[card]) and r["device_id"] not in seen[card]
            seen[card].add(r["device_id"])
            c["device_cards>=3"] += len(device_cards[r["device_id"]]) >= 3
        ip = r["ip_address"]
        c["ip_abroad"] += ip is not None and ip_country(ip) != r["customer_country"]
        c["merchant_abroad"] += r["merchant_country"] != r["customer_country"]
        c["transfer_or_cash_out"] += r["tx_type"] != "PURCHASE"
    table: dict[str, dict[str, float]] = {}
    for name in ("legit", *SCENARIOS):
        c = counts[name]
        row: dict[str, float] = {"records": c["n"]}
        for flag in FLAGS:
            base = c["online"] if flag in _PER_ONLINE else c["n"]
            row[flag] = round(100.0 * c[flag] / base, 1) if base else 0.0
        table[name] = row
    return table


def to_markdown(table: dict[str, dict[str, float]]) -> str:
    lines = ["| scenario | records | " + " | ".join(FLAGS) + " |"]
    lines.append("|---|---:|" + "---:|" * len(FLAGS))
    for name, row in table.items():
        cells = [f"{row[f]:.1f}%" for f in FLAGS]
        lines.append(f"| {name} | {int(row['records']):,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=400_000)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", type=Path, default=Path("reports/generator-signals.json"))
    args = parser.parse_args(argv)
    gen = TransactionGenerator(GeneratorConfig(seed=args.seed, n_customers=args.customers))
    records = [r for b in gen.batches(args.count, 50_000) for r in b]
    table = signal_table(records)
    print(to_markdown(table))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(table, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
