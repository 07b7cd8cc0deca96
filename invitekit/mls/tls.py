"""A small, strict, table-driven TLS-presentation codec (RFC 8446 §3 + RFC 9420 §2.1).

Structures are described as data: a :class:`Struct` subclass lists its wire layout in a
``LAYOUT`` tuple of :class:`Field` and :class:`Select` entries, and one interpreter
(:class:`StructCodec`) decodes and encodes every structure from that table (decoding runs
a function compiled once from the table, for speed; the table is the only source).

Invariants of every decode:

* reads never leave the region they are given: a length prefix larger than what remains is
  :class:`~invitekit.mls.errors.Truncated`, and a length-delimited region that is not
  consumed exactly is :class:`~invitekit.mls.errors.TrailingBytes`;
* ``opaque<V>``/``T<V>`` lengths use RFC 9420 §2.1.2 varints: 1/2/4 bytes, minimal, never
  the ``0b11`` prefix;
* every vector counts its items against a :class:`Limits` bound as it goes, so no hostile
  length makes the decoder allocate more than a constant times the input size;
* no recursion depends on the input (the schema is fixed), so depth is bounded;
* each decoded :class:`Struct` keeps ``raw``, the exact bytes it was read from, and
  ``encode(decode(x)) == x`` for every accepted ``x``.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from .errors import (
    InvalidStructure,
    InvalidVarint,
    LimitExceeded,
    MlsDecodeError,
    MlsEncodeError,
    TrailingBytes,
    Truncated,
    UnknownEnumValue,
)

#: Largest value a RFC 9420 varint can carry (30 bits).
VARINT_MAX = (1 << 30) - 1

_U32 = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds applied while decoding hostile input.

    ``max_input_bytes`` caps the whole message; ``max_tree_nodes`` the ratchet tree vector
    (2^17 - 1 nodes = 65,536 leaves by default); ``max_vector_items`` any other vector.
    """

    max_input_bytes: int = 64 * 1024 * 1024
    max_tree_nodes: int = (1 << 17) - 1
    max_vector_items: int = 1 << 16


DEFAULT_LIMITS = Limits()


# --- varint ---------------------------------------------------------------------------


def read_varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Decode a RFC 9420 §2.1.2 varint at ``pos``; returns ``(value, new_pos)``."""
    if pos >= end:
        raise Truncated(f"varint at offset {pos}: input ends")
    first = buf[pos]
    prefix = first >> 6
    if prefix == 0:
        return first, pos + 1
    if prefix == 1:
        if pos + 2 > end:
            raise Truncated(f"2-byte varint at offset {pos}: input ends")
        value = ((first & 0x3F) << 8) | buf[pos + 1]
        if value < 0x40:
            raise InvalidVarint(f"non-minimal 2-byte varint {value} at offset {pos}")
        return value, pos + 2
    if prefix == 2:
        if pos + 4 > end:
            raise Truncated(f"4-byte varint at offset {pos}: input ends")
        value = _U32.unpack_from(buf, pos)[0] & 0x3FFFFFFF
        if value < 0x4000:
            raise InvalidVarint(f"non-minimal 4-byte varint {value} at offset {pos}")
        return value, pos + 4
    raise InvalidVarint(f"varint with reserved 0b11 prefix at offset {pos}")


def encode_varint(value: int) -> bytes:
    """Minimal RFC 9420 varint encoding of ``value`` (0 ≤ value < 2^30)."""
    if value < 0 or value > VARINT_MAX:
        raise MlsEncodeError(f"varint out of range: {value}")
    if value < 0x40:
        return bytes((value,))
    if value < 0x4000:
        return (0x4000 | value).to_bytes(2, "big")
    return (0x80000000 | value).to_bytes(4, "big")


def read_length(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """Read a varint length prefix and check the region it declares fits before ``end``."""
    length, pos = read_varint(buf, pos, end)
    if pos + length > end:
        raise Truncated(f"length {length} at offset {pos} runs past the enclosing region")
    return pos + length, pos


# --- codecs ---------------------------------------------------------------------------


class Codec:
    """One wire type: ``decode(buf, pos, end, limits) -> (value, pos)`` and ``encode``."""

    __slots__ = ()

    def decode(self, buf: bytes, pos: int, end: int, limits: Limits) -> tuple[Any, int]:
        """Decode one value starting at ``pos``, never reading at or past ``end``."""
        raise NotImplementedError

    def encode(self, value: Any, out: bytearray) -> None:
        """Append the encoding of ``value`` to ``out``."""
        raise NotImplementedError


class Uint(Codec):
    """A fixed-width big-endian unsigned integer (uint8/16/32/64)."""

    __slots__ = ("width",)

    def __init__(self, width: int) -> None:
        self.width = width

    def decode(self, buf: bytes, pos: int, end: int, limits: Limits) -> tuple[int, int]:
        new = pos + self.width
        if new > end:
            raise Truncated(f"uint{self.width * 8} at offset {pos}: input ends")
        return int.from_bytes(buf[pos:new], "big"), new

    def encode(self, value: int, out: bytearray) -> None:
        out += value.to_bytes(self.width, "big")


class Enum(Uint):
    """A fixed-width enum whose unknown values are rejected (they decide a layout)."""

    __slots__ = ("names", "what")

    def __init__(self, width: int, names: Mapping[int, str], what: str) -> None:
        super().__init__(width)
        self.names = dict(names)
        self.what = what

    def decode(self, buf: bytes, pos: int, end: int, limits: Limits) -> tuple[int, int]:
        value, new = Uint.decode(self, buf, pos, end, limits)
        if value not in self.names:
            raise UnknownEnumValue(f"{self.what} {value} at offset {pos} is not supported")
        return value, new


class Opaque(Codec):
    """``opaque data<V>``: a varint byte length, then the bytes."""

    __slots__ = ()

    def decode(self, buf: bytes, pos: int, end: int, limits: Limits) -> tuple[bytes, int]:
        new, start = read_length(buf, pos, end)
        return buf[start:new], new

    def encode(self, value: bytes, out: bytearray) -> None:
        out += encode_varint(len(value))
        out += value


class FixedOpaque(Codec):
    """``opaque data[N]``: exactly ``N`` bytes, no length prefix."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size

    def decode(self, buf: bytes, pos: int, end: int, limits: Limits) -> tuple[bytes, int]:
        new = pos + self.size
        if new > end:
            raise Truncated(f"opaque[{self.size}] at offset {pos}: input ends")
        return buf[pos:new], new

    def encode(self, value: bytes, out: bytearray) -> None:
        if len(value) != self.size:
            raise MlsEncodeError(f"opaque[{self.size}] given {len(value)} bytes")
        out += value


class UintVector(Codec):
    """``uintN items<V>``: a varint byte length, then fixed-width integers (16 or 32 bit)."""

    __slots__ = ("cache", "fmt", "width")

    def __init__(self, width: int) -> None:
        self.width = width
        self.fmt = {2: "H", 4: "I"}[width]
        self.cache: dict[int, Callable[[bytes, int], tuple[int, ...]]] = {}

    def decode(self, buf: bytes, pos: int, end: int, limits: Limits) -> tuple[tuple[int, ...], int]:
        new, start = read_length(buf, pos, end)
        size = new - start
        if size % self.width:
            raise TrailingBytes(f"uint{self.width * 8} vector at offset {pos}: ragged length")
        count = size // self.width
        if count > limits.max_vector_items:
            raise LimitExceeded(f"vector at offset {pos} has {count} items")
        unpacker = self.cache.get(count)
        if unpacker is None:
            unpacker = self.cache[count] = struct.Struct(f">{count}{self.fmt}").unpack_from
        return unpacker(buf, start), new

    def encode(self, value: Sequence[int], out: bytearray) -> None:
        body = struct.pack(f">{len(value)}{self.fmt}", *value)
        out += encode_varint(len(body))
        out += body


class Vector(Codec):
    """``T items<V>``: a varint byte length, then items that must fill it exactly."""

    __slots__ = ("item", "tree")

    def __init__(self, item: Codec, *, tree: bool = False) -> None:
        self.item = item
        self.tree = tree  # counts against max_tree_nodes instead of max_vector_items

    def decode(self, buf: bytes, pos: int, end: int, limits: Limits) -> tuple[tuple[Any, ...], int]:
        new, cur = read_length(buf, pos, end)
        cap = limits.max_tree_nodes if self.tree else limits.max_vector_items
        items: list[Any] = []
        decode = self.item.decode
        while cur < new:
            if len(items) >= cap:
                raise LimitExceeded(f"vector at offset {pos} has more than {cap} items")
            value, cur = decode(buf, cur, new, limits)
            items.append(value)
        return tuple(items), new

    def encode(self, value: Sequence[Any], out: bytearray) -> None:
        body = bytearray()
        for item in value:
            self.item.encode(item, body)
        out += encode_varint(len(body))
        out += body


class Optional(Codec):
    """``optional<T>``: a presence octet (0 or 1, anything else is malformed), then T."""

    __slots__ = ("item",)

    def __init__(self, item: Codec) -> None:
        self.item = item

    def decode(self, buf: bytes, pos: int, end: int, limits: Limits) -> tuple[Any, int]:
        if pos >= end:
            raise Truncated(f"optional at offset {pos}: input ends")
        present = buf[pos]
        if present == 0:
            return None, pos + 1
        if present != 1:
            raise InvalidStructure(f"optional presence octet {present} at offset {pos}")
        return self.item.decode(buf, pos + 1, end, limits)

    def encode(self, value: Any, out: bytearray) -> None:
        if value is None:
            out.append(0)
        else:
            out.append(1)
            self.item.encode(value, out)


# --- table-driven structs ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """One named field of a struct layout and its wire type."""

    name: str
    codec: Codec


@dataclass(frozen=True, slots=True)
class Select:
    """``select (on) { case k: fields... }``: fields present only for some values of ``on``.

    Fields of the cases not taken are ``None`` on the decoded struct. Every allowed value
    of ``on`` must appear in ``cases`` (an empty tuple for ``struct{}``).
    """

    on: str
    cases: Mapping[int, tuple[Field, ...]]


LayoutEntry = Field | Select
Layout = tuple[LayoutEntry, ...]


@dataclass(frozen=True, slots=True)
class Struct:
    """Base of decoded structures: each subclass declares ``LAYOUT``; ``raw`` is its bytes."""

    LAYOUT: ClassVar[Layout] = ()
    raw: bytes = dataclasses.field(default=b"", repr=False, compare=False, kw_only=True)

    def to_bytes(self) -> bytes:
        """Re-encode from the field values (not from ``raw``)."""
        out = bytearray()
        codec_for(type(self)).encode(self, out)
        return bytes(out)


S = TypeVar("S", bound=Struct)


class StructCodec(Codec):
    """Interprets a :class:`Struct` subclass's ``LAYOUT`` table to decode and encode it.

    Decoding runs a function compiled once from the table (:func:`_compile_decoder`):
    the same steps as a loop over the layout, unrolled, with fixed-width integers, enums
    and ``opaque<V>`` read inline. Encoding walks the table directly.
    """

    __slots__ = ("cls", "decode", "layout")

    def __init__(self, cls: type[Struct]) -> None:
        self.cls = cls
        self.layout = cls.LAYOUT
        self.decode = _compile_decoder(cls)  # type: ignore[method-assign,assignment]

    def encode(self, value: Struct, out: bytearray) -> None:
        for entry in self.layout:
            if isinstance(entry, Field):
                entry.codec.encode(getattr(value, entry.name), out)
                continue
            for fld in entry.cases[getattr(value, entry.on)]:
                fld.codec.encode(getattr(value, fld.name), out)


def _slot_setter(cls: type, name: str) -> Callable[[object, Any], None]:
    """The slot descriptor's ``__set__`` (works on frozen dataclasses, skips ``__init__``)."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name].__set__  # type: ignore[no-any-return]
    raise AttributeError(name)  # pragma: no cover - layouts name declared fields


def _emit_field(lines: list[str], ns: dict[str, Any], fld: Field, var: str, indent: str) -> None:
    """Append source that decodes ``fld`` into local ``var`` and advances ``pos``."""
    codec = fld.codec
    what = fld.name
    if type(codec) is Opaque:
        lines += [
            f"{indent}if pos >= end: raise Truncated(f'{what} at offset {{pos}}: input ends')",
            f"{indent}n = buf[pos]",
            f"{indent}if n < 64: pos += 1",
            f"{indent}else: n, pos = read_varint(buf, pos, end)",
            f"{indent}nxt = pos + n",
            f"{indent}if nxt > end: raise Truncated("
            f"f'{what}: length {{n}} at offset {{pos}} runs past the enclosing region')",
            f"{indent}{var} = buf[pos:nxt]",
            f"{indent}pos = nxt",
        ]
        return
    if type(codec) in (Uint, Enum):
        assert isinstance(codec, Uint)
        width = codec.width
        lines.append(f"{indent}nxt = pos + {width}")
        lines.append(
            f"{indent}if nxt > end: raise Truncated(f'{what} at offset {{pos}}: input ends')"
        )
        if width == 1:
            lines.append(f"{indent}{var} = buf[pos]")
        else:
            lines.append(f"{indent}{var} = int.from_bytes(buf[pos:nxt], 'big')")
        if isinstance(codec, Enum):
            ns[f"names_{var}"] = frozenset(codec.names)
            lines.append(
                f"{indent}if {var} not in names_{var}: raise UnknownEnumValue("
                f"f'{codec.what} {{{var}}} at offset {{pos}} is not supported')"
            )
        lines.append(f"{indent}pos = nxt")
        return
    if type(codec) is FixedOpaque:
        lines += [
            f"{indent}nxt = pos + {codec.size}",
            f"{indent}if nxt > end: raise Truncated(f'{what} at offset {{pos}}: input ends')",
            f"{indent}{var} = buf[pos:nxt]",
            f"{indent}pos = nxt",
        ]
        return
    ns[f"dec_{var}"] = codec.decode
    lines.append(f"{indent}{var}, pos = dec_{var}(buf, pos, end, limits)")


def _compile_decoder(cls: type[Struct]) -> Callable[[bytes, int, int, Limits], tuple[Struct, int]]:
    """Compile ``cls.LAYOUT`` into one decode function (the table stays the only source)."""
    ns: dict[str, Any] = {
        "Truncated": Truncated,
        "UnknownEnumValue": UnknownEnumValue,
        "read_varint": read_varint,
        "new": object.__new__,
        "cls": cls,
        "set_raw": _slot_setter(cls, "raw"),
    }
    lines = ["def decode(buf, pos, end, limits):", "    start = pos"]
    names: list[tuple[str, str]] = []
    for i, entry in enumerate(cls.LAYOUT):
        if isinstance(entry, Field):
            var = f"v{i}"
            names.append((entry.name, var))
            _emit_field(lines, ns, entry, var, "    ")
            continue
        on_var = dict(names)[entry.on]
        case_vars: dict[str, str] = {}
        for case in entry.cases.values():
            for fld in case:
                case_vars.setdefault(fld.name, f"v{i}_{len(case_vars)}")
        for var in case_vars.values():
            lines.append(f"    {var} = None")
        keyword = "if"
        for value, case in entry.cases.items():
            lines.append(f"    {keyword} {on_var} == {value}:")
            lines.append("        pass")
            for fld in case:
                _emit_field(lines, ns, fld, case_vars[fld.name], "        ")
            keyword = "elif"
        lines.append("    else:")
        lines.append(f"        raise UnknownEnumValue(f'{entry.on} {{{on_var}}} has no layout')")
        names += case_vars.items()
    lines.append("    obj = new(cls)")
    for name, var in names:
        ns[f"set_{var}"] = _slot_setter(cls, name)
        lines.append(f"    set_{var}(obj, {var})")
    lines.append("    set_raw(obj, buf[start:pos])")
    lines.append("    return obj, pos")
    exec(compile("\n".join(lines), f"<decoder {cls.__name__}>", "exec"), ns)  # noqa: S102
    return ns["decode"]  # type: ignore[no-any-return]


_CODECS: dict[type[Struct], StructCodec] = {}


def codec_for(cls: type[Struct]) -> StructCodec:
    """The (cached) interpreter for a struct class."""
    codec = _CODECS.get(cls)
    if codec is None:
        codec = _CODECS[cls] = StructCodec(cls)
    return codec


class Tagged(Codec):
    """A one-byte tag choosing between struct types (RFC 9420's ``Node``)."""

    __slots__ = ("by_tag", "by_type", "what")

    def __init__(self, cases: Mapping[int, type[Struct]], what: str) -> None:
        self.by_tag = {tag: codec_for(cls) for tag, cls in cases.items()}
        self.by_type = {cls: tag for tag, cls in cases.items()}
        self.what = what

    def decode(self, buf: bytes, pos: int, end: int, limits: Limits) -> tuple[Struct, int]:
        if pos >= end:
            raise Truncated(f"{self.what} at offset {pos}: input ends")
        codec = self.by_tag.get(buf[pos])
        if codec is None:
            raise UnknownEnumValue(f"{self.what} type {buf[pos]} at offset {pos}")
        return codec.decode(buf, pos + 1, end, limits)

    def encode(self, value: Struct, out: bytearray) -> None:
        out.append(self.by_type[type(value)])
        codec_for(type(value)).encode(value, out)


def decode_exact(codec: Codec, data: bytes, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Decode ``data`` as one value of ``codec``; every byte must be consumed."""
    if len(data) > limits.max_input_bytes:
        raise LimitExceeded(f"input of {len(data)} bytes exceeds {limits.max_input_bytes}")
    data = bytes(data)
    value, pos = codec.decode(data, 0, len(data), limits)
    if pos != len(data):
        raise TrailingBytes(f"{len(data) - pos} trailing bytes after offset {pos}")
    return value


def decode_struct(cls: type[S], data: bytes, limits: Limits = DEFAULT_LIMITS) -> S:
    """Decode ``data`` as exactly one ``cls`` struct."""
    value = decode_exact(codec_for(cls), data, limits)
    if not isinstance(value, cls):  # pragma: no cover - the codec builds cls
        raise MlsDecodeError("decoder produced the wrong type")
    return value


def encode(codec: Codec, value: Any) -> bytes:
    """Encode one value with ``codec``."""
    out = bytearray()
    codec.encode(value, out)
    return bytes(out)


U8 = Uint(1)
U16 = Uint(2)
U32 = Uint(4)
U64 = Uint(8)
OPAQUE = Opaque()
U16_LIST = UintVector(2)
U32_LIST = UintVector(4)


__all__ = [
    "DEFAULT_LIMITS",
    "OPAQUE",
    "U8",
    "U16",
    "U16_LIST",
    "U32",
    "U32_LIST",
    "U64",
    "VARINT_MAX",
    "Codec",
    "Enum",
    "Field",
    "Layout",
    "LayoutEntry",
    "Limits",
    "Opaque",
    "Optional",
    "Select",
    "Struct",
    "StructCodec",
    "Tagged",
    "Uint",
    "UintVector",
    "Vector",
    "codec_for",
    "decode_exact",
    "decode_struct",
    "encode",
    "encode_varint",
    "read_length",
    "read_varint",
]
