"""Schema-specialised Avro binary codecs, generated once per schema.

fastavro interprets the schema for every record; for flat records (the
shape of every fraudstream event) a function written out for one schema is
faster, because it does no type dispatch per field. :func:`compile_codec`
generates such an encoder and decoder from a schema with Python's ``exec``
and returns ``None`` for schemas it does not handle (nested records, general
unions, fixed), in which case the caller uses fastavro. The output is byte for
byte what fastavro writes (the unit tests check that on generated records).

The fast path is strict and cheap: any exception it raises means "this record
is bad"; the caller then re-validates with fastavro to name the field.
``timestamp-millis`` fields take ints (epoch millis) or aware ``datetime``
values and decode to ints.

Example:
    >>> from fraudstream.events.contracts import USER_EVENT, schema_dict
    >>> codec = compile_codec(schema_dict(USER_EVENT))
    >>> rec = {"event_id": "e", "user_id": "u", "session_id": "s", "event_type": "SEARCH",
    ...        "event_timestamp": 1000, "request_latency_ms": 60, "status": "SUCCESS",
    ...        "error_code": None, "product_id": None}
    >>> body = codec.encode(rec, bytearray())
    >>> codec.decode(bytes(body), 0) == rec
    True
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_ONE_BYTE = [bytes([z]) for z in range(128)]
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


class CodecError(ValueError):
    """Raised by generated decoders for malformed bytes (the caller wraps it)."""


def _zz(n: int) -> bytes:
    """Zig-zag varint encoding of a 64-bit signed integer."""
    if not _LONG_MIN <= n <= _LONG_MAX:
        raise OverflowError(f"{n} does not fit in a long")
    z = (n << 1) ^ (n >> 63)
    if z < 128:
        return _ONE_BYTE[z]
    buf = bytearray()
    while z > 127:
        buf.append((z & 0x7F) | 0x80)
        z >>= 7
    buf.append(z)
    return bytes(buf)


def _as_long(v: Any) -> int:
    if v.__class__ is int:
        return int(v)
    if isinstance(v, datetime):
        if v.tzinfo is None:
            raise TypeError("naive datetime for a timestamp-millis field")
        return int(v.timestamp() * 1000)
    if isinstance(v, int):  # bool and int subclasses, as fastavro accepts them
        return int(v)
    raise TypeError(f"expected an int, got {type(v).__name__}")


def _as_int(v: Any) -> int:
    n = _as_long(v)
    if not _INT_MIN <= n <= _INT_MAX:
        raise OverflowError(f"{n} does not fit in an int")
    return n


def _rl(d: bytes, pos: int) -> tuple[int, int]:
    """Read a zig-zag varint at ``pos``; return (value, next position)."""
    b = d[pos]
    pos += 1
    z = b & 0x7F
    shift = 7
    while b & 0x80:
        if shift > 63:
            raise CodecError("varint longer than 10 bytes")
        b = d[pos]
        pos += 1
        z |= (b & 0x7F) << shift
        shift += 7
    if z >> 64:
        raise CodecError("varint does not fit in a long")
    return (z >> 1) ^ -(z & 1), pos


_PD = struct.Struct("<d")
_PF = struct.Struct("<f")

_HELPERS: dict[str, Any] = {
    "_zz": _zz,
    "_as_long": _as_long,
    "_as_int": _as_int,
    "_rl": _rl,
    "_pd": _PD.pack,
    "_pf": _PF.pack,
    "_ud": _PD.unpack_from,
    "_uf": _PF.unpack_from,
    "_B1": _ONE_BYTE,
    "CodecError": CodecError,
}


@dataclass(frozen=True, slots=True)
class Codec:
    """A generated encoder/decoder pair for one record schema.

    ``encode(record, out)`` appends the Avro body to ``out`` and returns it;
    ``decode(data, pos)`` reads one record starting at ``pos`` and requires it
    to end exactly at ``len(data)``.
    """

    encode: Callable[[dict[str, Any], bytearray], bytearray]
    decode: Callable[[bytes, int], dict[str, Any]]
    source: str
    encode_lines: tuple[str | None, ...]

    def field_at(self, exc: BaseException) -> str | None:
        """The field whose encoding code raised ``exc`` (from the traceback's line number)."""
        tb = exc.__traceback__
        field = None
        while tb is not None:
            if tb.tb_frame.f_code.co_name == "encode" and tb.tb_frame.f_code.co_filename.startswith(
                "<avro codec"
            ):
                line = tb.tb_lineno - 1
                if 0 <= line < len(self.encode_lines):
                    field = self.encode_lines[line]
            tb = tb.tb_next
        return field


class _Unsupported(Exception):
    pass


class _Gen:
    """Emits Python source for one schema; ``n`` makes variable names unique."""

    def __init__(self) -> None:
        self.n = 0
        self.consts: dict[str, Any] = {}

    def var(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def const(self, value: Any) -> str:
        name = self.var("_k")
        self.consts[name] = value
        return name

    # -- encoding: lines that write value expression `v` (a variable) to `out`
    def enc(self, t: Any, v: str, ind: str) -> list[str]:
        if isinstance(t, list):
            return self._enc_union(t, v, ind)
        if isinstance(t, dict):
            kind = t["type"]
            if kind == "enum":
                table = {s: _zz(i) for i, s in enumerate(t["symbols"])}
                return [f"{ind}out += {self.const(table)}[{v}]"]
            if kind == "array":
                x = self.var("x")
                return [
                    f"{ind}if not isinstance({v}, (list, tuple)): raise TypeError('not an array')",
                    f"{ind}if {v}:",
                    f"{ind}    out += _zz(len({v}))",
                    f"{ind}    for {x} in {v}:",
                    *self.enc(t["items"], x, ind + "        "),
                    f"{ind}out += b'\\x00'",
                ]
            if kind == "map":
                k, x = self.var("k"), self.var("x")
                return [
                    f"{ind}if not isinstance({v}, dict): raise TypeError('not a map')",
                    f"{ind}if {v}:",
                    f"{ind}    out += _zz(len({v}))",
                    f"{ind}    for {k}, {x} in {v}.items():",
                    *self.enc("string", k, ind + "        "),
                    *self.enc(t["values"], x, ind + "        "),
                    f"{ind}out += b'\\x00'",
                ]
            if kind in ("long", "int", "string", "bytes", "double", "float", "boolean", "null"):
                return self.enc(kind, v, ind)
            raise _Unsupported(kind)
        if t == "string":
            b, n = self.var("b"), self.var("n")
            return [
                f"{ind}{b} = {v}.encode()",
                f"{ind}{n} = len({b})",
                f"{ind}out += _B1[{n} + {n}] if {n} < 64 else _zz({n})",
                f"{ind}out += {b}",
            ]
        if t == "bytes":
            return [
                f"{ind}if not isinstance({v}, (bytes, bytearray)): raise TypeError('not bytes')",
                f"{ind}out += _zz(len({v}))",
                f"{ind}out += {v}",
            ]
        if t == "long":
            return [f"{ind}out += _zz({v} if {v}.__class__ is int else _as_long({v}))"]
        if t == "int":
            return [f"{ind}out += _zz(_as_int({v}))"]
        if t == "double":
            return [f"{ind}out += _pd({v})"]
        if t == "float":
            return [f"{ind}out += _pf({v})"]
        if t == "boolean":
            return [
                f"{ind}if {v} is True: out += b'\\x01'",
                f"{ind}elif {v} is False: out += b'\\x00'",
                f"{ind}else: raise TypeError('not a boolean')",
            ]
        if t == "null":
            return [f"{ind}if {v} is not None: raise TypeError('not null')"]
        raise _Unsupported(str(t))

    def _enc_union(self, t: list[Any], v: str, ind: str) -> list[str]:
        if len(t) != 2 or "null" not in t:
            raise _Unsupported("union")
        null_i = t.index("null")
        other = t[1 - null_i]
        return [
            f"{ind}if {v} is None: out += {_ONE_BYTE[null_i * 2]!r}",
            f"{ind}else:",
            f"{ind}    out += {_ONE_BYTE[(1 - null_i) * 2]!r}",
            *self.enc(other, v, ind + "    "),
        ]

    # -- decoding: lines that read one value of type t from d at pos into `v`
    def dec(self, t: Any, v: str, ind: str) -> list[str]:
        if isinstance(t, list):
            if len(t) != 2 or "null" not in t:
                raise _Unsupported("union")
            null_i = t.index("null")
            i = self.var("i")
            # union indexes 0 and 1 are the single bytes 0 and 2 (zig-zag)
            return [
                f"{ind}{i} = d[pos]",
                f"{ind}pos += 1",
                f"{ind}if {i} == {null_i * 2}: {v} = None",
                f"{ind}elif {i} == {(1 - null_i) * 2}:",
                *self.dec(t[1 - null_i], v, ind + "    "),
                f"{ind}else: raise CodecError('union index out of range')",
            ]
        if isinstance(t, dict):
            kind = t["type"]
            if kind == "enum":
                i = self.var("i")
                syms = self.const(tuple(t["symbols"]))
                return [
                    *self._varint(i, ind),
                    f"{ind}if not 0 <= {i} < len({syms}):",
                    f"{ind}    raise CodecError('enum index out of range')",
                    f"{ind}{v} = {syms}[{i}]",
                ]
            if kind in ("array", "map"):
                return self._dec_block(t, v, ind)
            return self.dec(kind, v, ind)
        if t in ("string", "bytes"):
            # A short read past the end (a truncated body) leaves pos > L, which the
            # next index or the final length check rejects, so no bounds test here.
            n, end = self.var("n"), self.var("e")
            conv = ".decode()" if t == "string" else ""
            return [
                f"{ind}{n} = d[pos]",
                f"{ind}if {n} & 0x81 == 0:",
                f"{ind}    {end} = pos + 1 + ({n} >> 1)",
                f"{ind}    {v} = d[pos + 1:{end}]{conv}",
                f"{ind}else:",
                f"{ind}    {n}, pos = _rl(d, pos)",
                f"{ind}    if {n} < 0: raise CodecError('negative length')",
                f"{ind}    {end} = pos + {n}",
                f"{ind}    {v} = d[pos:{end}]{conv}",
                f"{ind}pos = {end}",
            ]
        if t == "long":
            b, z, sh = self.var("b"), self.var("z"), self.var("s")
            # inlined varint (timestamps are 6 bytes): no call, no tuple
            return [
                f"{ind}{b} = d[pos]",
                f"{ind}pos += 1",
                f"{ind}{z} = {b} & 0x7F",
                f"{ind}{sh} = 7",
                f"{ind}while {b} & 0x80:",
                f"{ind}    {b} = d[pos]",
                f"{ind}    pos += 1",
                f"{ind}    {z} |= ({b} & 0x7F) << {sh}",
                f"{ind}    {sh} += 7",
                f"{ind}if {sh} > 63 and ({sh} > 70 or {z} >> 64):",
                f"{ind}    raise CodecError('varint does not fit in a long')",
                f"{ind}{v} = ({z} >> 1) ^ -({z} & 1)",
            ]
        if t == "int":
            return [
                f"{ind}{v}, pos = _rl(d, pos)",
                f"{ind}if not {_INT_MIN} <= {v} <= {_INT_MAX}:",
                f"{ind}    raise CodecError('int out of range')",
            ]
        if t in ("double", "float"):
            fn, size = ("_ud", 8) if t == "double" else ("_uf", 4)
            return [f"{ind}{v} = {fn}(d, pos)[0]", f"{ind}pos += {size}"]
        if t == "boolean":
            return [
                f"{ind}if d[pos] > 1: raise CodecError('bad boolean')",
                f"{ind}{v} = d[pos] == 1",
                f"{ind}pos += 1",
            ]
        if t == "null":
            return [f"{ind}{v} = None"]
        raise _Unsupported(str(t))

    def _varint(self, v: str, ind: str) -> list[str]:
        # one-byte non-negative values (lengths < 64, small indexes) skip the call
        return [
            f"{ind}{v} = d[pos]",
            f"{ind}if {v} & 0x81 == 0:",
            f"{ind}    {v} >>= 1",
            f"{ind}    pos += 1",
            f"{ind}else: {v}, pos = _rl(d, pos)",
        ]

    def _dec_block(self, t: dict[str, Any], v: str, ind: str) -> list[str]:
        c, j, x, k = self.var("c"), self.var("j"), self.var("x"), self.var("k")
        is_map = t["type"] == "map"
        item = self.dec(t["values"] if is_map else t["items"], x, ind + "        ")
        key = self.dec("string", k, ind + "        ") if is_map else []
        store = f"{v}[{k}] = {x}" if is_map else f"{v}.append({x})"
        return [
            f"{ind}{v} = {{}}" if is_map else f"{ind}{v} = []",
            f"{ind}while True:",
            f"{ind}    {c}, pos = _rl(d, pos)",
            f"{ind}    if {c} == 0: break",
            f"{ind}    if {c} < 0:",
            f"{ind}        {c} = -{c}",
            f"{ind}        _, pos = _rl(d, pos)",
            f"{ind}    if {c} > L: raise CodecError('block count larger than the data')",
            f"{ind}    for {j} in range({c}):",
            *key,
            *item,
            f"{ind}        {store}",
        ]


def compile_codec(schema: dict[str, Any]) -> Codec | None:
    """Generate a codec for a flat record schema (unparsed dict), or ``None`` if unsupported."""
    if schema.get("type") != "record":
        return None
    gen = _Gen()
    enc = ["def encode(r, out):"]
    enc_fields: list[str | None] = [None]
    dec = ["def decode(d, pos):", "    L = len(d)"]
    names = []
    try:
        for i, f in enumerate(schema["fields"]):
            name, v = f["name"], f"f{i}"
            names.append((name, v))
            if "default" in f:
                enc.append(f"    {v} = r.get({name!r}, {gen.const(f['default'])})")
            else:
                enc.append(f"    {v} = r[{name!r}]")
            enc += gen.enc(f["type"], v, "    ")
            enc_fields += [name] * (len(enc) - len(enc_fields))
            dec += gen.dec(f["type"], v, "    ")
    except _Unsupported:
        return None
    enc.append("    return out")
    dec.append("    if pos != L: raise CodecError(f'{L - pos} trailing bytes')")
    dec.append("    return {" + ", ".join(f"{n!r}: {v}" for n, v in names) + "}")
    source = "\n".join(enc) + "\n\n" + "\n".join(dec) + "\n"
    namespace: dict[str, Any] = {**_HELPERS, **gen.consts}
    exec(compile(source, f"<avro codec {schema.get('name')}>", "exec"), namespace)  # noqa: S102
    return Codec(
        encode=namespace["encode"],
        decode=namespace["decode"],
        source=source,
        encode_lines=tuple(enc_fields),
    )
