"""A small protobuf (proto2) wire codec and the Open API's framing, with no vendor code.

A message is described by a :class:`Schema`: a table of field numbers, each with its name, wire
type and whether it repeats. :func:`encode` turns a ``dict`` (field names to values) into
protobuf bytes and :func:`decode` turns bytes back into a ``dict``; fields the table does not
know are skipped, as protobuf requires, so a newer server stays readable.

Wire types used: varints (``int32``, ``int64``, ``uint32``, ``uint64``, ``bool``, ``enum``,
and zigzag ``sint32``/``sint64``), 64-bit little-endian (``double``, ``fixed64``,
``sfixed64``), 32-bit (``float``, ``fixed32``, ``sfixed32``) and length-delimited (``string``,
``bytes``, nested messages, packed repeated scalars). Negative ``int32``/``int64`` take ten
bytes, as protobuf writes them.

On the socket every message travels as a 4-byte big-endian length followed by a serialised
``ProtoMessage`` envelope (:data:`ENVELOPE`): the payload type, the inner message's bytes and an
optional ``clientMsgId`` the server echoes on its answers.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Wire types.
VARINT, I64, LEN, I32 = 0, 1, 2, 5

_VARINT_KINDS = frozenset({"int32", "int64", "uint32", "uint64", "bool", "enum", "sint32",
                           "sint64"})
_I64_KINDS = {"double": "<d", "fixed64": "<Q", "sfixed64": "<q"}
_I32_KINDS = {"float": "<f", "fixed32": "<I", "sfixed32": "<i"}
_LEN_KINDS = frozenset({"string", "bytes", "message"})
_MASK64 = (1 << 64) - 1
#: The largest frame accepted from a peer.
MAX_FRAME = 16 * 1024 * 1024


class WireError(ValueError):
    """Bytes that are not a valid protobuf message or frame."""


@dataclass(frozen=True)
class Field:
    """One field of a message table.

    Attributes
    ----------
    number : int
        The field number on the wire.
    name : str
        The key in the decoded ``dict`` (the protocol's own name).
    kind : str
        ``int64``, ``uint32``, ``bool``, ``enum``, ``double``, ``string``, ``bytes``,
        ``message``...
    repeated : bool
    packed : bool
        Write a repeated scalar packed (reading accepts both forms).
    message : Schema or None
        The nested message of a ``message`` field.
    """

    number: int
    name: str
    kind: str
    repeated: bool = False
    packed: bool = False
    message: Schema | None = None

    def __post_init__(self) -> None:
        known = _VARINT_KINDS | set(_I64_KINDS) | set(_I32_KINDS) | _LEN_KINDS
        if self.kind not in known:
            raise ValueError(f"field {self.name}: unknown kind {self.kind!r}")
        if (self.kind == "message") != (self.message is not None):
            raise ValueError(f"field {self.name}: a message field needs its schema")


@dataclass(frozen=True)
class Schema:
    """A message's field table.

    Parameters
    ----------
    name : str
        The message's name (``ProtoOANewOrderReq``), for errors.
    fields : tuple of Field
    """

    name: str
    fields: tuple[Field, ...]
    by_number: dict[int, Field] = field(init=False, repr=False, compare=False)
    by_name: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_number", {f.number: f for f in self.fields})
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})
        if len(self.by_number) != len(self.fields) or len(self.by_name) != len(self.fields):
            raise ValueError(f"{self.name}: field numbers and names must be unique")


def F(number: int, name: str, kind: str, *, repeated: bool = False, packed: bool = False,
      message: Schema | None = None) -> Field:
    """A :class:`Field` (short spelling for the message tables)."""
    return Field(number, name, kind, repeated, packed, message)


# -- varints ----------------------------------------------------------------------------------


def encode_varint(value: int) -> bytes:
    """The varint of a non-negative integer below 2**64."""
    if value < 0 or value > _MASK64:
        raise WireError(f"varint out of range: {value}")
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def decode_varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    result = 0
    shift = 0
    end = len(data)
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if result > _MASK64:
                raise WireError("varint longer than 64 bits")
            return result, pos
        shift += 7
        if shift >= 70:
            raise WireError("varint longer than ten bytes")


def zigzag(value: int) -> int:
    """Zigzag encoding of a signed integer (0, -1, 1, -2 -> 0, 1, 2, 3)."""
    return (value << 1) ^ (value >> 63) if value < 0 else value << 1


def unzigzag(value: int) -> int:
    """The signed integer of a zigzag value."""
    return (value >> 1) ^ -(value & 1)


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _varint_value(kind: str, value: Any, name: str) -> int:
    if kind == "bool":
        return 1 if value else 0
    number = int(value)
    if kind in ("sint32", "sint64"):
        return zigzag(number)
    if kind in ("uint32", "uint64"):
        limit = 32 if kind == "uint32" else 64
        if number < 0 or number >> limit:
            raise WireError(f"{name}: {number} is out of range for {kind}")
        return number
    if kind == "int32" and not -(1 << 31) <= number < (1 << 31):
        raise WireError(f"{name}: {number} is out of range for int32")
    if not -(1 << 63) <= number < (1 << 63):
        raise WireError(f"{name}: {number} is out of range for {kind}")
    return number & _MASK64


def _from_varint(kind: str, raw: int) -> int | bool:
    if kind == "bool":
        return raw != 0
    if kind in ("sint32", "sint64"):
        return unzigzag(raw)
    if kind == "uint32":
        return raw & 0xFFFFFFFF
    if kind == "uint64":
        return raw
    if kind in ("int32", "enum"):
        return _signed(raw, 32)
    return _signed(raw, 64)


# -- messages ---------------------------------------------------------------------------------


def _wire_type(kind: str) -> int:
    if kind in _VARINT_KINDS:
        return VARINT
    if kind in _I64_KINDS:
        return I64
    if kind in _I32_KINDS:
        return I32
    return LEN


def _key(number: int, wire_type: int) -> bytes:
    return encode_varint((number << 3) | wire_type)


def _scalar(spec: Field, value: Any) -> bytes:
    if spec.kind in _VARINT_KINDS:
        return encode_varint(_varint_value(spec.kind, value, spec.name))
    if spec.kind in _I64_KINDS:
        return struct.pack(_I64_KINDS[spec.kind], value)
    return struct.pack(_I32_KINDS[spec.kind], value)


def _length_delimited(spec: Field, value: Any) -> bytes:
    if spec.kind == "string":
        raw = str(value).encode("utf-8")
    elif spec.kind == "bytes":
        raw = bytes(value)
    else:
        assert spec.message is not None
        raw = encode(spec.message, value)
    return encode_varint(len(raw)) + raw


def encode(schema: Schema, values: Mapping[str, Any]) -> bytes:
    """``values`` (field name to value; None and missing fields are left out) as protobuf
    bytes, in field-number order.

    Raises
    ------
    WireError
        A name the schema does not have, or a value its kind cannot hold.
    """
    unknown = [k for k in values if k not in schema.by_name]
    if unknown:
        raise WireError(f"{schema.name} has no field {unknown[0]!r}")
    out = bytearray()
    for spec in schema.fields:
        value = values.get(spec.name)
        if value is None:
            continue
        items = list(value) if spec.repeated else [value]
        if spec.repeated and spec.packed and spec.kind not in _LEN_KINDS:
            if items:
                body = b"".join(_scalar(spec, v) for v in items)
                out += _key(spec.number, LEN) + encode_varint(len(body)) + body
            continue
        for item in items:
            try:
                if spec.kind in _LEN_KINDS:
                    out += _key(spec.number, LEN) + _length_delimited(spec, item)
                else:
                    out += _key(spec.number, _wire_type(spec.kind)) + _scalar(spec, item)
            except (struct.error, TypeError, ValueError) as exc:
                if isinstance(exc, WireError):
                    raise
                raise WireError(f"{schema.name}.{spec.name}: {exc}") from None
    return bytes(out)


def _skip(data: memoryview, pos: int, wire_type: int) -> int:
    if wire_type == VARINT:
        return decode_varint(data, pos)[1]
    if wire_type == I64:
        pos += 8
    elif wire_type == I32:
        pos += 4
    elif wire_type == LEN:
        length, pos = decode_varint(data, pos)
        pos += length
    else:
        raise WireError(f"unsupported wire type {wire_type}")
    if pos > len(data):
        raise WireError("truncated field")
    return pos


def _read_fixed(data: memoryview, pos: int, size: int, fmt: str) -> tuple[Any, int]:
    if pos + size > len(data):
        raise WireError("truncated fixed-size field")
    return struct.unpack_from(fmt, data, pos)[0], pos + size


def _decode_value(spec: Field, data: memoryview, pos: int, wire_type: int
                  ) -> tuple[list[Any], int]:
    """One occurrence of a field: its value(s) (a packed run gives several)."""
    if wire_type == LEN and spec.kind not in _LEN_KINDS:  # packed repeated scalars
        length, pos = decode_varint(data, pos)
        end = pos + length
        if end > len(data):
            raise WireError(f"truncated packed field {spec.name}")
        values = []
        while pos < end:
            found, pos = _decode_value(spec, data[:end], pos, _wire_type(spec.kind))
            values += found
        return values, end
    if wire_type != _wire_type(spec.kind):
        raise WireError(f"field {spec.name}: wire type {wire_type} for a {spec.kind}")
    if wire_type == VARINT:
        raw, pos = decode_varint(data, pos)
        return [_from_varint(spec.kind, raw)], pos
    if wire_type == I64:
        value, pos = _read_fixed(data, pos, 8, _I64_KINDS[spec.kind])
        return [value], pos
    if wire_type == I32:
        value, pos = _read_fixed(data, pos, 4, _I32_KINDS[spec.kind])
        return [value], pos
    length, pos = decode_varint(data, pos)
    end = pos + length
    if end > len(data):
        raise WireError(f"truncated field {spec.name}")
    chunk = data[pos:end]
    if spec.kind == "string":
        try:
            return [bytes(chunk).decode("utf-8")], end
        except UnicodeDecodeError:
            raise WireError(f"field {spec.name} is not UTF-8") from None
    if spec.kind == "bytes":
        return [bytes(chunk)], end
    assert spec.message is not None
    return [decode(spec.message, chunk)], end


def decode(schema: Schema, data: bytes | memoryview) -> dict[str, Any]:
    """Protobuf bytes as a ``dict`` of the fields present (repeated fields as lists; the last
    occurrence of a singular field wins; unknown fields skipped).

    Raises
    ------
    WireError
        Malformed bytes.
    """
    view = memoryview(data)
    out: dict[str, Any] = {}
    pos = 0
    while pos < len(view):
        key, pos = decode_varint(view, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireError(f"{schema.name}: field number 0")
        spec = schema.by_number.get(number)
        if spec is None:
            pos = _skip(view, pos, wire_type)
            continue
        values, pos = _decode_value(spec, view, pos, wire_type)
        if spec.repeated:
            out.setdefault(spec.name, []).extend(values)
        else:
            out[spec.name] = values[-1]
    return out


# -- frames -----------------------------------------------------------------------------------

#: The envelope of every message on the socket.
ENVELOPE = Schema("ProtoMessage", (
    F(1, "payloadType", "uint32"),
    F(2, "payload", "bytes"),
    F(3, "clientMsgId", "string"),
))


@dataclass(frozen=True)
class Envelope:
    """One message as it travels: its payload type, inner bytes and client message id."""

    payload_type: int
    payload: bytes = b""
    client_msg_id: str = ""

    def to_bytes(self) -> bytes:
        """The serialised ``ProtoMessage``."""
        return encode(ENVELOPE, {"payloadType": self.payload_type, "payload": self.payload,
                                 "clientMsgId": self.client_msg_id or None})

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        """Parse a serialised ``ProtoMessage``.

        Raises
        ------
        WireError
            Malformed bytes or no payload type.
        """
        values = decode(ENVELOPE, data)
        if "payloadType" not in values:
            raise WireError("ProtoMessage without a payload type")
        return cls(int(values["payloadType"]), values.get("payload", b""),
                   values.get("clientMsgId", ""))


def frame(message: bytes) -> bytes:
    """``message`` behind its 4-byte big-endian length."""
    if len(message) > MAX_FRAME:
        raise WireError(f"a frame of {len(message)} bytes is too long")
    return len(message).to_bytes(4, "big") + message


async def read_frame(reader: asyncio.StreamReader, max_size: int = MAX_FRAME) -> bytes:
    """The next frame's message from ``reader``.

    Raises
    ------
    asyncio.IncompleteReadError
        The peer closed the connection.
    WireError
        A length over ``max_size``.
    """
    head = await reader.readexactly(4)
    length = int.from_bytes(head, "big")
    if length > max_size:
        raise WireError(f"a frame of {length} bytes is longer than {max_size}")
    return await reader.readexactly(length)


__all__ = ["ENVELOPE", "I32", "I64", "LEN", "MAX_FRAME", "VARINT", "Envelope", "F", "Field",
           "Schema", "WireError", "decode", "decode_varint", "encode", "encode_varint", "frame",
           "read_frame", "unzigzag", "zigzag"]
