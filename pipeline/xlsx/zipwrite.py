"""Writing zip archives: uncompressed ones for calamine to read checked parts from, new deflated ones (the
receipt workbook), and re-packed ones whose unchanged entries are copied byte for byte (the annotated copy, a
summary's bulk rows). A large part can be deflated in pieces, one of them by another process (`joined`).
Reading and checking archives is `pipeline.xlsx.container`.
"""

from __future__ import annotations

import struct
import time
import zipfile
from typing import NamedTuple

from zlib_ng import zlib_ng as fast_zlib

LOCAL_HEADER = b"PK\x03\x04"
_UTF8_NAMES = 0x800  # zip flag: names are UTF-8
_JAN_1_1980 = 0x21  # the earliest DOS date a zip entry can carry
# a part this large (a summary's lineage sheet: ~100 MB of XML for 1,000 ОО) is deflated at level 3, not 6: half
# the time for about a sixth more bytes
LARGE_PART_BYTES = 16 * 1024 * 1024


def stored_zip(parts: dict[str, tuple[bytes, int]]) -> bytes:
    """A zip archive of (inflated bytes, CRC-32) by name, stored without compression."""
    chunks, directory, offset = [], [], 0
    for name, (payload, crc) in parts.items():
        local, central = _entry(name, payload, len(payload), crc, 0, offset, 0, _JAN_1_1980)
        chunks.append(local)
        directory.append(central)
        offset += len(local)
    return b"".join([*chunks, zip_end(directory, offset)])


def dos_now() -> tuple[int, int]:
    """The current time and date in a zip entry's DOS form."""
    y, mo, d, h, mi, s = time.localtime()[:6]
    return (h << 11) | (mi << 5) | (s // 2), ((y - 1980) << 9) | (mo << 5) | d


def _entry(
    name: str, packed: bytes, size: int, crc: int, method: int, offset: int, clock: int, day: int
) -> tuple[bytes, bytes]:
    """(local entry, central directory record) of one member whose (packed) bytes are written at `offset`."""
    encoded = name.encode("utf-8")
    local = (
        struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            20,
            _UTF8_NAMES,
            method,
            clock,
            day,
            crc,
            len(packed),
            size,
            len(encoded),
            0,
        )
        + encoded
        + packed
    )
    central = (
        struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            _UTF8_NAMES,
            method,
            clock,
            day,
            crc,
            len(packed),
            size,
            len(encoded),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        + encoded
    )
    return local, central


class Packed(NamedTuple):
    """Bytes deflated ahead: a whole part (`final`), or a piece of one that later pieces follow (`joined`)."""

    data: bytes
    size: int  # inflated
    crc: int
    final: bool


def packed(payload: bytes, final: bool = True) -> Packed:
    """`payload` deflated: a whole part, or (not `final`) a piece ending on a byte boundary for more to follow."""
    level = 3 if len(payload) > LARGE_PART_BYTES else 6
    packer = fast_zlib.compressobj(level, fast_zlib.DEFLATED, -fast_zlib.MAX_WBITS)
    data = packer.compress(payload) + packer.flush(fast_zlib.Z_FINISH if final else fast_zlib.Z_SYNC_FLUSH)
    return Packed(data, len(payload), fast_zlib.crc32(payload), final)


def joined(pieces: list[bytes | Packed]) -> Packed:
    """One part of pieces deflated apart, as pigz joins them: each a deflate stream flushed to a byte boundary,
    the last one final. Raw pieces are deflated here; a piece deflated ahead (in another process) is kept."""
    done = [
        piece if isinstance(piece, Packed) else packed(piece, final=n == len(pieces) - 1)
        for n, piece in enumerate(pieces)
    ]
    if not done[-1].final or any(piece.final for piece in done[:-1]):
        raise ValueError("only the last piece of a part ends its stream")
    crc = 0
    for piece in done:
        crc = fast_zlib.crc32_combine(crc, piece.crc, piece.size)
    return Packed(b"".join(piece.data for piece in done), sum(piece.size for piece in done), crc, True)


def deflated_entry(
    name: str, payload: bytes | Packed, offset: int, clock: int, day: int
) -> tuple[bytes, bytes]:
    """(local entry, central directory record) of one deflated member written at `offset`."""
    part = payload if isinstance(payload, Packed) else packed(payload)
    return _entry(name, part.data, part.size, part.crc, 8, offset, clock, day)


def zip_end(directory: list[bytes], offset: int) -> bytes:
    """The central directory and its end record, for entries whose local parts end at `offset`."""
    listing = b"".join(directory)
    return listing + struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(directory), len(directory), len(listing), offset, 0
    )


def deflated_zip(parts: dict[str, bytes]) -> bytes:
    """A new zip archive of these parts, deflated."""
    chunks, directory, offset = [], [], 0
    clock, day = dos_now()
    for name, payload in parts.items():
        local, central = deflated_entry(name, payload, offset, clock, day)
        chunks.append(local)
        directory.append(central)
        offset += len(local)
    return b"".join([*chunks, zip_end(directory, offset)])


def _dos_time(info: zipfile.ZipInfo) -> tuple[int, int]:
    y, mo, d, h, mi, s = info.date_time
    return (h << 11) | (mi << 5) | (s // 2), ((y - 1980) << 9) | (mo << 5) | d


def repack(
    data: bytes,
    infos: list[zipfile.ZipInfo],
    changed: dict[str, bytes | Packed],
    dated_as_first: bool = False,
) -> bytes:
    """The archive with `changed` parts deflated anew (new ones appended) and every other entry's local header and
    data copied byte for byte. New parts are dated now, or (`dated_as_first`, for a book that must come out the
    same byte for byte) as the first entry. Raises ValueError when an entry is not where its directory says."""
    chunks, directory, offset = [], [], 0
    new_time = _dos_time(infos[0]) if dated_as_first and infos else dos_now()
    entries = [(info.filename, info) for info in infos]
    entries += [(name, None) for name in changed if name not in {i.filename for i in infos}]
    for name, info in entries:
        if name in changed or info is None:
            local, central = deflated_entry(
                name, changed[name], offset, *(_dos_time(info) if info else new_time)
            )
        else:
            at = info.header_offset
            if data[at : at + 4] != LOCAL_HEADER:
                raise ValueError(f"no local header for {name}")
            name_len, extra_len = struct.unpack_from("<HH", data, at + 26)
            end = at + 30 + name_len + extra_len + info.compress_size
            if info.flag_bits & 0x08:  # a data descriptor follows the data, with or without its signature
                end += 16 if data[end : end + 4] == b"PK\x07\x08" else 12
            local = data[at:end]
            clock, day = _dos_time(info)
            raw_name = data[at + 30 : at + 30 + name_len]
            central = (
                struct.pack(
                    "<IHHHHHHIIIHHHHHII",
                    0x02014B50,
                    info.create_version | (info.create_system << 8),
                    info.extract_version,
                    info.flag_bits,
                    info.compress_type,
                    clock,
                    day,
                    info.CRC,
                    info.compress_size,
                    info.file_size,
                    len(raw_name),
                    0,
                    0,
                    0,
                    info.internal_attr,
                    info.external_attr,
                    offset,
                )
                + raw_name
            )
        chunks.append(local)
        directory.append(central)
        offset += len(local)
    return b"".join([*chunks, zip_end(directory, offset)])
