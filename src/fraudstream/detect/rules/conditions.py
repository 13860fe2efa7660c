"""The condition language of rules, compiled to vectorised numpy predicates.

A condition is a YAML mapping, one of::

    {all: [cond, ...]}                        # and
    {any: [cond, ...]}                        # or
    {not: cond}
    {feature: count_by_card_1h, op: ">=", value: 5}
    {feature: merchant_category_code, in: [12, 40]}
    {field: merchant_category, in: [jewelry, digital_goods]}
    {field: channel, op: "==", value: ECOM}
    {feature: amount, op: ">", feature_value: amount_sum_by_card_24h, times: 0.8}

``feature`` reads a column of the feature matrix (names of the feature contract);
``field`` reads a raw transaction field (strings: ``==``, ``!=``, ``in``,
``not_in``). A missing value (NaN feature, None field) makes every comparison
false, ``!=`` and ``not_in`` included: a rule never fires on data it cannot see.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from fraudstream.errors import ConfigError
from fraudstream.events.batch import TransactionBatch
from fraudstream.features.contract import LEAKAGE_FIELDS

Predicate = Callable[[np.ndarray, TransactionBatch], np.ndarray]

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_LEAF_KEYS = {"feature", "field", "op", "value", "in", "not_in", "feature_value", "times"}


def compile_condition(spec: Any, feature_index: Mapping[str, int], where: str) -> Predicate:
    """Compile a condition mapping into ``f(x, batch) -> bool[n]``.

    Raises:
        ConfigError: the condition is malformed or names an unknown feature (``where``
            says which rule).

    Example:
        >>> import numpy as np
        >>> p = compile_condition({"any": [{"feature": "a", "op": ">", "value": 2},
        ...                                {"feature": "b", "in": [0]}]}, {"a": 0, "b": 1}, "r")
        >>> p(np.array([[3.0, 1.0], [1.0, 0.0], [1.0, np.nan]]), None).tolist()
        [True, True, False]
    """
    if not isinstance(spec, Mapping) or not spec:
        raise ConfigError(f"{where}: a condition must be a non-empty mapping, got {spec!r}")
    if "all" in spec or "any" in spec:
        kind = "all" if "all" in spec else "any"
        if len(spec) != 1 or not isinstance(spec[kind], list) or not spec[kind]:
            raise ConfigError(f"{where}: '{kind}' takes a non-empty list and nothing beside it")
        parts = [compile_condition(c, feature_index, where) for c in spec[kind]]
        combine = np.logical_and if kind == "all" else np.logical_or

        def _combined(x: np.ndarray, batch: TransactionBatch) -> np.ndarray:
            out = parts[0](x, batch)
            for p in parts[1:]:
                out = combine(out, p(x, batch))
            return np.asarray(out, dtype=bool)

        return _combined
    if "not" in spec:
        if len(spec) != 1:
            raise ConfigError(f"{where}: 'not' takes one condition and nothing beside it")
        inner = compile_condition(spec["not"], feature_index, where)
        return lambda x, batch: ~inner(x, batch)
    unknown = set(spec) - _LEAF_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)} in condition {dict(spec)!r}")
    if "feature" in spec:
        return _feature_leaf(spec, feature_index, where)
    if "field" in spec:
        return _field_leaf(spec, where)
    raise ConfigError(f"{where}: a condition needs all/any/not/feature/field: {dict(spec)!r}")


def _column(name: Any, feature_index: Mapping[str, int], where: str) -> int:
    if not isinstance(name, str) or name not in feature_index:
        raise ConfigError(f"{where}: unknown feature {name!r}")
    return int(feature_index[name])


def _feature_leaf(
    spec: Mapping[str, Any], feature_index: Mapping[str, int], where: str
) -> Predicate:
    col = _column(spec["feature"], feature_index, where)
    key = _membership_key(spec)
    if key is not None:
        values = spec[key]
        if not isinstance(values, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        ):
            raise ConfigError(f"{where}: feature '{key}' takes a list of numbers")
        arr = np.asarray(values, dtype=np.float64)
        negate = key == "not_in"

        def _member(x: np.ndarray, batch: TransactionBatch) -> np.ndarray:
            v = x[:, col]
            hit = np.isin(v, arr)
            return (~hit & ~np.isnan(v)) if negate else hit

        return _member
    op = _op(spec, where)
    if "feature_value" in spec:
        other = _column(spec["feature_value"], feature_index, where)
        times = _number(spec.get("times", 1.0), where)
        return lambda x, batch: (
            np.asarray(op(x[:, col], x[:, other] * times), dtype=bool)
            & (~np.isnan(x[:, col]) & ~np.isnan(x[:, other]))
        )
    value = _number(spec.get("value"), where)
    return lambda x, batch: np.asarray(op(x[:, col], value), dtype=bool) & ~np.isnan(x[:, col])


def _field_leaf(spec: Mapping[str, Any], where: str) -> Predicate:
    if not isinstance(spec["field"], str):
        raise ConfigError(f"{where}: 'field' must name a transaction field")
    field = spec["field"]
    if field in LEAKAGE_FIELDS:
        raise ConfigError(f"{where}: {field!r} is ground truth and may not be read by a rule")
    key = _membership_key(spec)
    if key is not None:
        if not isinstance(spec[key], list) or not all(
            v is None or isinstance(v, str | int | float) for v in spec[key]
        ):
            raise ConfigError(f"{where}: field '{key}' takes a list of plain values")
        members = frozenset(spec[key])
        negate_member = key == "not_in"

        def _member(x: np.ndarray, batch: TransactionBatch) -> np.ndarray:
            col = batch.col(field)
            hit = np.fromiter(map(members.__contains__, col), dtype=bool, count=len(col))
            present = col != None  # noqa: E711 (elementwise on an object array)
            return (~hit & present) if negate_member else hit

        return _member
    op_name = spec.get("op")
    if op_name not in ("==", "!="):
        raise ConfigError(f"{where}: a field compares with ==, != or in/not_in, got {op_name!r}")
    value = spec.get("value")
    negate = op_name == "!="

    def _compare(x: np.ndarray, batch: TransactionBatch) -> np.ndarray:
        col = batch.col(field)
        eq = np.asarray(col == value, dtype=bool)
        present = np.asarray(col != None, dtype=bool)  # noqa: E711
        return (~eq & present) if negate else eq

    return _compare


def _membership_key(spec: Mapping[str, Any]) -> str | None:
    return next((k for k in ("in", "not_in") if k in spec), None)


def _op(spec: Mapping[str, Any], where: str) -> Callable[[Any, Any], Any]:
    name = spec.get("op")
    if name not in _OPS:
        raise ConfigError(f"{where}: op must be one of {sorted(_OPS)}, got {name!r}")
    return _OPS[str(name)]


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    return float(value)
