"""Hypothesis strategies that generate records from an Avro schema."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from fraudstream.events.contracts import schema_dict

LONG = st.integers(-(2**63), 2**63 - 1)
INT = st.integers(-(2**31), 2**31 - 1)
# timestamps the generators and replays produce: 1970..2200
MILLIS = st.integers(0, 7_258_118_400_000)


def for_type(t: Any, *, finite: bool = False) -> st.SearchStrategy[Any]:
    """A strategy of valid values of Avro type ``t`` (unparsed form).

    ``finite`` keeps doubles finite (what JSON can carry).
    """
    if isinstance(t, list):
        return st.one_of(*[for_type(b, finite=finite) for b in t])
    if isinstance(t, dict):
        kind = t["type"]
        if t.get("logicalType") == "timestamp-millis":
            return MILLIS
        if kind == "enum":
            return st.sampled_from(t["symbols"])
        if kind == "array":
            return st.lists(for_type(t["items"], finite=finite), max_size=5)
        if kind == "map":
            values = for_type(t["values"], finite=finite)
            return st.dictionaries(st.text(max_size=20), values, max_size=5)
        return for_type(kind, finite=finite)
    return {
        "null": st.none(),
        "boolean": st.booleans(),
        "int": INT,
        "long": LONG,
        "float": st.floats(allow_nan=False, allow_infinity=not finite, width=32),
        "double": st.floats(allow_nan=False, allow_infinity=not finite),
        "string": st.text(max_size=80),
        "bytes": st.binary(max_size=80),
    }[t]


def records(schema_name: str, *, finite: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """Records of packaged schema ``schema_name`` with every field set."""
    fields = schema_dict(schema_name)["fields"]
    return st.fixed_dictionaries({f["name"]: for_type(f["type"], finite=finite) for f in fields})
