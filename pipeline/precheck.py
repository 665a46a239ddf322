"""The file pre-check: decide from raw bytes whether a return may be opened by any spreadsheet library.

Runs before calamine or openpyxl see the file (shared/reliability.md): legacy and encrypted containers, .ods,
.xlsb/.xlsm, Strict OOXML, renamed text, DTDs, bombs and external links are each rejected with their own rule.
"""

from __future__ import annotations

import io
import zipfile
import zlib

from pipeline.issues import Issue, issue

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_UNPACKED_BYTES = 300 * 1024 * 1024
MAX_PART_BYTES = 100 * 1024 * 1024
MAX_RATIO = 200
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
STRICT_NS = b"http://purl.oclc.org/ooxml/spreadsheetml/main"


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
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError, ValueError):
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
        with archive.open(info) as part:
            head = part.read(65536)  # a DOCTYPE must come before the root element
        if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
            return issue("F06", detail=f"объявления DTD/ENTITY в части {info.filename}")
        if info.filename == "xl/workbook.xml" and STRICT_NS in head:
            return issue("F05")
    return None


def _decodes(chunk: bytes) -> bool:
    for encoding in ("utf-8", "cp1251"):
        try:
            chunk.decode(encoding)
            return True
        except UnicodeDecodeError:
            continue
    return False
