"""Versioned rule sets: rules as data, shadow rules, allow / block lists.

A rule set is a YAML document (see ``default.yaml`` and docs/detection.md)::

    id: default
    version: "2026.11.1"
    lists:
      allow: {card_id: [...], device_id: [...]}
      block: {ip_address: [...], merchant_id: [...]}
    rules:
      - id: amount_ge_900
        risk: HIGH          # the least risk level a hit imposes (CRITICAL = block)
        score: 0.7          # the rule's fraud score when no model is loaded
        shadow: false       # shadow rules are evaluated and counted, never acted on
        when: {feature: amount, op: ">=", value: 900}

Precedence, highest first: **blocklist > allowlist > rules > model**. A blocklisted
entity is blocked whatever else matches (a known-bad device on a VIP card is a
compromised VIP card); an allowlisted one is never alerted on by rules or models;
rules set a floor on the risk level and the model's score can only raise it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fraudstream.detect.base import RISK_LEVELS
from fraudstream.detect.rules.conditions import Predicate, compile_condition
from fraudstream.errors import ConfigError
from fraudstream.events.batch import TransactionBatch
from fraudstream.features.contract import FEATURE_INDEX
from fraudstream.observe.metrics import LIST_HITS, RULE_HITS

LIST_FIELDS = ("card_id", "account_id", "device_id", "ip_address", "merchant_id")
LIST_NONE, LIST_ALLOW, LIST_BLOCK = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled rule."""

    id: str
    risk: int  # index into RISK_LEVELS
    score: float
    shadow: bool
    description: str
    predicate: Predicate


@dataclass(slots=True)
class RuleResult:
    """What a rule set found in a batch.

    Attributes:
        hits: bool ``[n, len(rules)]`` (active and shadow rules, in rule-set order).
        risk_floor: int8 ``[n]``: the highest ``risk`` of the active rules that fired, -1 if none.
        rule_score: float64 ``[n]``: the highest ``score`` of the active rules that fired.
        list_action: int8 ``[n]``: LIST_NONE, LIST_ALLOW or LIST_BLOCK (after precedence).
        list_reasons: row -> reason codes of the list matches.
    """

    hits: np.ndarray
    risk_floor: np.ndarray
    rule_score: np.ndarray
    list_action: np.ndarray
    list_reasons: dict[int, list[str]] = field(default_factory=dict)
    rule_ids: tuple[str, ...] = ()
    shadow: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def reasons(self, row: int) -> list[str]:
        """Reason codes of one row: list matches, fired rules, then ``shadow:`` rules."""
        out = list(self.list_reasons.get(row, ()))
        for j in np.flatnonzero(self.hits[row]):
            out.append(
                f"shadow:{self.rule_ids[j]}" if self.shadow[j] else f"rule:{self.rule_ids[j]}"
            )
        return out


class RuleSet:
    """A compiled, versioned rule set with allow / block lists.

    Example:
        >>> import numpy as np
        >>> from fraudstream.features.contract import FEATURE_INDEX, FEATURE_NAMES
        >>> big = {"feature": "amount", "op": ">=", "value": 900}
        >>> rs = RuleSet.from_dict({"id": "t", "version": "1", "rules": [
        ...     {"id": "big", "risk": "HIGH", "when": big}]})
        >>> x = np.zeros((2, len(FEATURE_NAMES))); x[0, FEATURE_INDEX["amount"]] = 950
        >>> b = TransactionBatch([{"card_id": "a"}, {"card_id": "b"}])
        >>> r = rs.evaluate(x, b)
        >>> r.risk_floor.tolist(), r.reasons(0)
        ([2, -1], ['rule:big'])
    """

    def __init__(
        self,
        ruleset_id: str,
        version: str,
        rules: list[Rule],
        allow: Mapping[str, frozenset[str]],
        block: Mapping[str, frozenset[str]],
    ) -> None:
        self.id = ruleset_id
        self.version = version
        self.rules = rules
        self.allow = dict(allow)
        self.block = dict(block)
        self._risk = np.array([r.risk for r in rules], dtype=np.int8)
        self._score = np.array([r.score for r in rules], dtype=np.float64)
        self._shadow = np.array([r.shadow for r in rules], dtype=bool)
        self._hit_counters = [
            RULE_HITS.labels(rule=r.id, ruleset_version=version, shadow=str(r.shadow).lower())
            for r in rules
        ]

    @property
    def label(self) -> str:
        """``<id>@<version>``, recorded with every decision."""
        return f"{self.id}@{self.version}"

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> RuleSet:
        """Validate and compile a parsed YAML document.

        Raises:
            ConfigError: anything malformed, with the offending rule named.
        """
        if not isinstance(doc, Mapping):
            raise ConfigError("a rule set must be a mapping")
        for key in ("id", "version", "rules"):
            if key not in doc:
                raise ConfigError(f"rule set lacks '{key}'")
        if not isinstance(doc["rules"], list):
            raise ConfigError("'rules' must be a list")
        rules: list[Rule] = []
        seen: set[str] = set()
        for i, spec in enumerate(doc["rules"]):
            rules.append(_compile_rule(spec, i, seen))
        lists = doc.get("lists") or {}
        if not isinstance(lists, Mapping) or set(lists) - {"allow", "block"}:
            raise ConfigError("'lists' takes only 'allow' and 'block'")
        allow = _compile_list(lists.get("allow"), "allow")
        block = _compile_list(lists.get("block"), "block")
        return cls(str(doc["id"]), str(doc["version"]), rules, allow, block)

    def evaluate(self, x: np.ndarray, batch: TransactionBatch) -> RuleResult:
        """Run every rule and list over the batch's feature matrix (vectorised per rule)."""
        n = x.shape[0]
        hits = np.zeros((n, len(self.rules)), dtype=bool)
        for j, rule in enumerate(self.rules):
            hits[:, j] = rule.predicate(x, batch)
        counts = hits.sum(axis=0)
        for k in np.flatnonzero(counts).tolist():
            self._hit_counters[k].inc(int(counts[k]))
        active = hits & ~self._shadow
        risk_floor = np.where(active, self._risk, -1).max(axis=1, initial=-1).astype(np.int8)
        rule_score = np.where(active, self._score, 0.0).max(axis=1, initial=0.0)
        list_action, list_reasons = self._lists(batch, n)
        return RuleResult(
            hits, risk_floor, rule_score, list_action, list_reasons,
            tuple(r.id for r in self.rules), self._shadow,
        )  # fmt: skip

    def _lists(self, batch: TransactionBatch, n: int) -> tuple[np.ndarray, dict[int, list[str]]]:
        action = np.full(n, LIST_NONE, dtype=np.int8)
        reasons: dict[int, list[str]] = {}
        # Allow first, block second: a later write wins, so block takes precedence.
        for name, lists, code in (
            ("allow", self.allow, LIST_ALLOW),
            ("block", self.block, LIST_BLOCK),
        ):
            for fld, members in lists.items():
                if not members:
                    continue
                col = batch.col(fld)
                hit = np.fromiter(map(members.__contains__, col), dtype=bool, count=n)
                rows = np.flatnonzero(hit)
                if rows.size:
                    LIST_HITS.labels(list=name, field=fld).inc(int(rows.size))
                    action[rows] = code
                    for r in rows.tolist():
                        reasons.setdefault(r, []).append(f"{name}list:{fld}")
        return action, reasons


def _compile_rule(spec: Any, i: int, seen: set[str]) -> Rule:
    if not isinstance(spec, Mapping) or "id" not in spec or "when" not in spec:
        raise ConfigError(f"rule #{i} needs at least 'id' and 'when'")
    rid = str(spec["id"])
    if rid in seen:
        raise ConfigError(f"rule {rid!r} is defined twice")
    seen.add(rid)
    extra = set(spec) - {"id", "when", "risk", "score", "shadow", "description"}
    if extra:
        raise ConfigError(f"rule {rid!r}: unknown keys {sorted(extra)}")
    risk = str(spec.get("risk", "HIGH")).upper()
    if risk not in RISK_LEVELS:
        raise ConfigError(f"rule {rid!r}: risk must be one of {RISK_LEVELS}, got {risk!r}")
    score = spec.get("score", {"LOW": 0.1, "MEDIUM": 0.4, "HIGH": 0.7, "CRITICAL": 0.95}[risk])
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        raise ConfigError(f"rule {rid!r}: score must be a number in [0, 1], got {score!r}")
    shadow = spec.get("shadow", False)
    if not isinstance(shadow, bool):
        raise ConfigError(f"rule {rid!r}: shadow must be true or false")
    predicate = compile_condition(spec["when"], FEATURE_INDEX, f"rule {rid!r}")
    return Rule(
        rid,
        RISK_LEVELS.index(risk),
        float(score),
        shadow,
        str(spec.get("description", "")),
        predicate,
    )


def _compile_list(spec: Any, name: str) -> dict[str, frozenset[str]]:
    if spec is None:
        return {}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{name}list must map a field to a list of values")
    out: dict[str, frozenset[str]] = {}
    for fld, values in spec.items():
        if fld not in LIST_FIELDS:
            raise ConfigError(f"{name}list: field must be one of {LIST_FIELDS}, got {fld!r}")
        if not isinstance(values, list):
            raise ConfigError(f"{name}list.{fld} must be a list")
        out[str(fld)] = frozenset(str(v) for v in values)
    return out
