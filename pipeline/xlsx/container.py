"""The .xlsx container below any spreadsheet library: the pre-check, and the parts values are read from.

`precheck` decides from raw bytes whether a return may be opened at all (shared/reliability.md): legacy and
encrypted containers, .ods, .xlsb/.xlsm, Strict OOXML, renamed text, DTDs, bombs and external links are each
rejected with their own rule. `value_parts` inflates the parts values come from once, checks their CRC and
re-packs them uncompressed for calamine, noting what calamine does not report (hidden rows, uncached formulas).
"""

from __future__ import annotations

import html
import io
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from zlib_ng import zlib_ng as fast_zlib  # zlib's API, inflating about twice as fast

from pipeline.domain.issues import Issue, issue
from pipeline.xlsx.zipwrite import LOCAL_HEADER, stored_zip

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_UNPACKED_BYTES = 300 * 1024 * 1024
MAX_PART_BYTES = 100 * 1024 * 1024
MAX_RATIO = 200
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
STRICT_NS = b"http://purl.oclc.org/ooxml/spreadsheetml/main"
PROLOG_BYTES = 65536  # read of each XML part at most, looking for its root element
PROLOG_CHUNK = 2048  # first try; most parts' root tag ends well within it


def precheck(data: bytes, name: str) -> Issue | None:
    """None if the bytes look like a plain, safe .xlsx; otherwise the rejecting issue."""
    if not data:
        return issue("F01", name=name, detail="файл пустой")
    if len(data) > MAX_FILE_BYTES:
        return issue("F07", detail=f"{len(data) // 1024 // 1024} МБ")
    if data.startswith(OLE_MAGIC):
        return issue("F02")
    if not data.startswith(b"PK"):
        head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<table")):
            return issue("F08", name=name, detail="веб-страница (HTML/XML)")
        if b"\x00" not in data[:4096] and _decodes(data[:4096]):
            return issue("F08", name=name, detail="текстовый файл (CSV или TXT)")
        return issue("F01", name=name, detail="содержимое не распознано")
    try:
        return _check_archive(data, name)
    except (
        zipfile.BadZipFile,
        zlib.error,
        struct.error,
        EOFError,
        OSError,
        RuntimeError,
        NotImplementedError,
        ValueError,
    ):
        return damaged(name)


def damaged(name: str) -> Issue:
    """A container that cannot be read back whole: broken, cut short, or a part failing its CRC."""
    return issue("F01", name=name, detail="архив повреждён или обрезан")


def _check_archive(data: bytes, name: str) -> Issue | None:
    archive = zipfile.ZipFile(io.BytesIO(data))
    infos = archive.infolist()
    names = {i.filename for i in infos}
    if "mimetype" in names and b"opendocument" in archive.read("mimetype"):
        return issue("F03")
    if "xl/workbook.bin" in names:
        return issue("F04", detail="двоичная книга Excel (.xlsb)")
    if "xl/vbaProject.bin" in names:
        return issue("F04", detail="книга с макросами (.xlsm)")
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        return issue("F01", name=name, detail="в архиве нет книги Excel")
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if total > MAX_UNPACKED_BYTES or any(i.file_size > MAX_PART_BYTES for i in infos):
        return issue("F07", detail=f"после распаковки {total // 1024 // 1024} МБ")
    if total > 10 * 1024 * 1024 and total / packed > MAX_RATIO:
        return issue("F07", detail=f"степень сжатия {total // packed}:1")
    if any(n.startswith("xl/externalLinks/") for n in names):
        return issue("F06", detail="внешние связи с другими книгами или DDE")
    if b"macroEnabled" in archive.read("[Content_Types].xml"):
        return issue("F04", detail="книга с макросами (.xlsm)")
    for info in infos:
        if not info.filename.endswith((".xml", ".rels", ".vml")):
            continue
        head = _prolog(data, info, archive)
        if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
            return issue("F06", detail=f"объявления DTD/ENTITY в части {info.filename}")
        if info.filename == "xl/workbook.xml" and STRICT_NS in head:
            return issue("F05")
    return None


def member(data: bytes, info: zipfile.ZipInfo, archive: zipfile.ZipFile, limit: int = 0) -> bytes:
    """A member's inflated bytes (the first `limit` of them, if given; a whole member is checked against its
    CRC; damage raises zipfile.BadZipFile), straight from the archive's bytes.

    Stored and deflated members (what spreadsheet programs write) are inflated here without a file object per
    member; anything else goes through zipfile, which knows the other methods and refuses encryption."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & 0x1:
        with archive.open(info) as part:
            return part.read(limit or -1)
    at = info.header_offset
    if data[at : at + 4] != LOCAL_HEADER:
        raise zipfile.BadZipFile(f"no local header for {info.filename}")
    name_length, extra_length = struct.unpack_from("<HH", data, at + 26)
    start = at + 30 + name_length + extra_length
    raw = data[start : start + info.compress_size]
    if info.compress_type == zipfile.ZIP_STORED:
        inflated = raw[:limit] if limit else raw
    else:
        try:
            inflated = fast_zlib.decompressobj(-fast_zlib.MAX_WBITS).decompress(raw, limit)
        except fast_zlib.error as exc:
            raise zipfile.BadZipFile(f"{info.filename}: {exc}") from exc
    if not limit and fast_zlib.crc32(inflated) != info.CRC:  # whole member: check it as zipfile would
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {info.filename!r}")
    return inflated


def _prolog(data: bytes, info: zipfile.ZipInfo, archive: zipfile.ZipFile) -> bytes:
    """A part's bytes up to the end of its root element's start tag (at most PROLOG_BYTES): where a DOCTYPE or
    ENTITY must stand and the root's namespace is declared. Only that much is inflated."""
    for limit in (PROLOG_CHUNK, PROLOG_BYTES):
        head = member(data, info, archive, limit)
        end = _root_tag_end(head)
        if end is not None:
            return head[:end]
    return head


def _root_tag_end(head: bytes) -> int | None:
    """Index just past the root element's start tag, or None if `head` does not reach it yet. Comments and
    processing instructions are skipped; a declaration (`<!DOCTYPE`…) ends the prolog early, as it is refused."""
    at = 0
    while (at := head.find(b"<", at)) != -1:
        for opening, closing in ((b"<!--", b"-->"), (b"<?", b"?>")):
            if head.startswith(opening, at):
                close = head.find(closing, at + len(opening))
                if close == -1:
                    return None
                at = close + len(closing)
                break
        else:
            if head.startswith(b"<!", at):
                return len(head)
            close = head.find(b">", at)
            return None if close == -1 else close + 1
    return None


def _decodes(chunk: bytes) -> bool:
    for encoding in ("utf-8", "cp1251"):
        try:
            chunk.decode(encoding)
            return True
        except UnicodeDecodeError:
            continue
    return False


@dataclass
class SheetXmlFacts:
    hidden_rows: set[int] = field(default_factory=set)
    uncached_formulas: set[str] = field(default_factory=set)


_ATTRIBUTE = re.compile(r"""([\w.:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
WORKBOOK_RELS = "xl/_rels/workbook.xml.rels"
SHARED_PARTS = (
    "_rels/.rels",
    "xl/sharedStrings.xml",
    "xl/styles.xml",
)  # where the workbook is; every sheet's text and formats
_ROW_NUMBER = re.compile(rb'\br="(\d+)"')
_FORMULA = re.compile(rb"<f[\s>/]")
_CELL = re.compile(rb'<c\b[^>]*?\br="([A-Z]+\d+)"[^>]*?(?:/>|>(.*?)</c>)', re.S)
_CACHED_VALUE = re.compile(rb"<v>[^<]+</v>")


def _hidden_rows(xml: bytes) -> set[int]:
    """Rows marked hidden: found from each `hidden="` back to its tag, not by scanning every row."""
    rows, at = set(), xml.find(b'hidden="')
    while at != -1:
        tag = xml[xml.rfind(b"<", 0, at) : xml.find(b">", at)]
        if (
            tag.startswith(b"<row")
            and (b'hidden="1"' in tag or b'hidden="true"' in tag)
            and (m := _ROW_NUMBER.search(tag))
        ):
            rows.add(int(m[1]))
        at = xml.find(b'hidden="', at + 1)
    return rows


def value_parts(data: bytes, titles: set[str]) -> tuple[bytes, dict[str, SheetXmlFacts]]:
    """The parts values are read from (package and workbook relationships, workbook, shared strings, styles and
    the sheets named in `titles`), inflated once and re-packed uncompressed for calamine; and, by sheet title,
    what calamine does not report (hidden rows, formulas saved without a value).

    Each part is checked against its CRC here, which calamine does not do: a damaged part raises
    zipfile.BadZipFile. Cells are scanned only in a sheet with formulas."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = {i.filename: i for i in z.infolist()}
        parts: dict[str, tuple[bytes, int]] = {}

        def part(name: str) -> bytes:
            inflated = member(data, infos[name], z)
            parts[name] = (inflated, infos[name].CRC)
            return inflated

        book, rels = (
            part("xl/workbook.xml").decode("utf-8", "replace"),
            part(WORKBOOK_RELS).decode("utf-8", "replace"),
        )
        for shared in SHARED_PARTS:
            if shared in infos:
                part(shared)
        targets = {}
        for rel in _elements(rels, "Relationship"):
            target = rel.get("Target", "")
            targets[rel.get("Id")] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        facts = {}
        for entry in _elements(book, "sheet"):
            title, name = entry.get("name"), targets.get(entry.get("id"))  # r:id, whatever its prefix
            if name not in infos or title not in titles:
                continue
            xml = part(name)
            f = facts[title] = SheetXmlFacts(hidden_rows=_hidden_rows(xml))
            if _FORMULA.search(xml):
                for ref, inner in _CELL.findall(xml):
                    if inner and _FORMULA.search(inner) and not _CACHED_VALUE.search(inner):
                        f.uncached_formulas.add(ref.decode())
    return stored_zip(parts), facts


def _elements(xml: str, tag: str) -> Iterator[dict[str, str]]:
    """Each `tag` element's attributes by local name, unescaped, whatever the prefixes and attribute order."""
    for m in re.finditer(rf"<(?:[\w.-]+:)?{tag}\b([^>]*)>", xml):
        yield {key.rpartition(":")[2]: html.unescape(a or b) for key, a, b in _ATTRIBUTE.findall(m[1])}
