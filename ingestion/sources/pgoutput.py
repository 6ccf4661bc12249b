"""A decoder of PostgreSQL's pgoutput logical replication protocol (version 1).

pgoutput is the output plugin built into PostgreSQL (10+) that logical replication uses;
`pg_logical_slot_peek_binary_changes(..., 'proto_version', '1', 'publication_names', ...)`
returns one message per row. The layout is documented in "Logical Replication Message
Formats" of the PostgreSQL manual; all integers are big-endian.

Column values come in PostgreSQL's text output format (the session's TimeZone, DateStyle,
IntervalStyle and bytea_output apply), as the undecoded bytes of the database encoding:
the caller converts whole columns at once (to Arrow), which is faster than per value.
`UNCHANGED_TOAST` stands for a TOASTed value that an UPDATE did not change and that the
server therefore did not send.
"""

from __future__ import annotations

from dataclasses import dataclass
from struct import Struct
from struct import error as StructError
from typing import Final

_I16 = Struct(">h")
_I32 = Struct(">i")
_U32 = Struct(">I")
_U64 = Struct(">Q")
_BEGIN = Struct(">QqI")  # final LSN, commit timestamp, xid
_COMMIT = Struct(">bQQq")  # flags, commit LSN, end LSN, commit timestamp


class _Unchanged:
    """An unchanged TOASTed value: the server did not send it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNCHANGED_TOAST"


UNCHANGED_TOAST: Final = _Unchanged()

Value = bytes | None | _Unchanged


class PgOutputError(ValueError):
    """A message that is not valid pgoutput (version 1)."""


@dataclass(frozen=True, slots=True)
class Begin:
    final_lsn: int  # the LSN of the transaction's commit record
    commit_time: int  # microseconds since 2000-01-01
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    flags: int
    commit_lsn: int  # the LSN of the commit record
    end_lsn: int  # the LSN just past the commit record: where the next transaction starts
    commit_time: int


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type_oid: int
    type_modifier: int
    is_key: bool  # part of the replica identity (the primary key by default)


@dataclass(frozen=True, slots=True)
class Relation:
    oid: int
    namespace: str
    name: str
    replica_identity: str  # d (default: primary key), n (nothing), f (full), i (index)
    columns: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class Insert:
    relation_oid: int
    new: list[Value]


@dataclass(frozen=True, slots=True)
class Update:
    relation_oid: int
    old: list[Value] | None  # the old key ('K') or whole old row ('O'), when sent
    old_kind: str | None
    new: list[Value]


@dataclass(frozen=True, slots=True)
class Delete:
    relation_oid: int
    old: list[Value]
    old_kind: str  # K: only the key columns are set; O: the whole old row (REPLICA IDENTITY FULL)


@dataclass(frozen=True, slots=True)
class Truncate:
    options: int
    relation_oids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Origin:
    lsn: int
    name: str


@dataclass(frozen=True, slots=True)
class Type:
    oid: int
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class Message:
    """A logical decoding message (pg_logical_emit_message), sent only on request."""

    transactional: bool
    lsn: int
    prefix: str
    content: bytes


PgOutputMessage = (
    Begin | Commit | Relation | Insert | Update | Delete | Truncate | Origin | Type | Message
)


def _string(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(0, pos)
    return data[pos:end].decode(), end + 1


def _tuple(data: bytes, pos: int) -> tuple[list[Value], int]:
    (count,) = _I16.unpack_from(data, pos)
    pos += 2
    values: list[Value] = []
    append = values.append
    length_at = _I32.unpack_from
    for _ in range(count):
        kind = data[pos]
        if kind == 0x74:  # t: text (bytes in the database encoding)
            end = pos + 5 + length_at(data, pos + 1)[0]
            append(data[pos + 5 : end])
            pos = end
            continue
        pos += 1
        if kind == 0x6E:  # n: null
            append(None)
        elif kind == 0x75:  # u: unchanged TOASTed value
            append(UNCHANGED_TOAST)
        elif kind == 0x62:  # b: binary (only with the 'binary' option)
            (length,) = _I32.unpack_from(data, pos)
            pos += 4
            append(bytes(data[pos : pos + length]))
            pos += length
        else:
            raise PgOutputError(f"unknown tuple value kind {chr(kind)!r}")
    return values, pos


def decode(data: bytes) -> PgOutputMessage:
    """One pgoutput message."""
    if not data:
        raise PgOutputError("empty message")
    kind = data[0]
    try:
        if kind == 0x42:  # B
            return Begin(*_BEGIN.unpack_from(data, 1))
        if kind == 0x43:  # C
            return Commit(*_COMMIT.unpack_from(data, 1))
        if kind == 0x49:  # I
            (oid,) = _U32.unpack_from(data, 1)
            if data[5] != 0x4E:
                raise PgOutputError("insert without a new tuple")
            new, _ = _tuple(data, 6)
            return Insert(oid, new)
        if kind == 0x55:  # U
            (oid,) = _U32.unpack_from(data, 1)
            pos = 5
            old: list[Value] | None = None
            old_kind = None
            if data[pos] in (0x4B, 0x4F):  # K or O
                old_kind = chr(data[pos])
                old, pos = _tuple(data, pos + 1)
            if data[pos] != 0x4E:
                raise PgOutputError("update without a new tuple")
            new, _ = _tuple(data, pos + 1)
            return Update(oid, old, old_kind, new)
        if kind == 0x44:  # D
            (oid,) = _U32.unpack_from(data, 1)
            if data[5] not in (0x4B, 0x4F):
                raise PgOutputError("delete without an old key or row")
            old, _ = _tuple(data, 6)
            return Delete(oid, old, chr(data[5]))
        if kind == 0x52:  # R
            (oid,) = _U32.unpack_from(data, 1)
            namespace, pos = _string(data, 5)
            name, pos = _string(data, pos)
            identity = chr(data[pos])
            (count,) = _I16.unpack_from(data, pos + 1)
            pos += 3
            columns = []
            for _ in range(count):
                flags = data[pos]
                column, pos = _string(data, pos + 1)
                (type_oid,) = _U32.unpack_from(data, pos)
                (modifier,) = _I32.unpack_from(data, pos + 4)
                pos += 8
                columns.append(Column(column, type_oid, modifier, bool(flags & 1)))
            return Relation(oid, namespace, name, identity, tuple(columns))
        if kind == 0x54:  # T
            (count,) = _I32.unpack_from(data, 1)
            options = data[5]
            oids = tuple(_U32.unpack_from(data, 6 + 4 * i)[0] for i in range(count))
            return Truncate(options, oids)
        if kind == 0x4F:  # O
            (lsn,) = _U64.unpack_from(data, 1)
            name, _ = _string(data, 9)
            return Origin(lsn, name)
        if kind == 0x59:  # Y
            (oid,) = _U32.unpack_from(data, 1)
            namespace, pos = _string(data, 5)
            name, _ = _string(data, pos)
            return Type(oid, namespace, name)
        if kind == 0x4D:  # M
            transactional = bool(data[1])
            (lsn,) = _U64.unpack_from(data, 2)
            prefix, pos = _string(data, 10)
            (length,) = _I32.unpack_from(data, pos)
            return Message(transactional, lsn, prefix, bytes(data[pos + 4 : pos + 4 + length]))
    except (IndexError, ValueError, StructError) as exc:
        if isinstance(exc, PgOutputError):
            raise
        raise PgOutputError(f"truncated or malformed {chr(kind)!r} message: {exc}") from exc
    raise PgOutputError(f"unknown message type {chr(kind)!r}")


def lsn_to_int(text: str) -> int:
    """'16/B374D848' -> (0x16 << 32) + 0xB374D848."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def lsn_to_text(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


__all__ = [
    "UNCHANGED_TOAST",
    "Begin",
    "Column",
    "Commit",
    "Delete",
    "Insert",
    "Message",
    "Origin",
    "PgOutputError",
    "PgOutputMessage",
    "Relation",
    "Truncate",
    "Type",
    "Update",
    "decode",
    "lsn_to_int",
    "lsn_to_text",
]
