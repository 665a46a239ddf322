"""Files that must never reach a spreadsheet library are rejected with their own rule."""

from __future__ import annotations

import struct
import zipfile

import pytest

from pipeline.xlsx.container import OLE_MAGIC, precheck
from pipeline.xlsx.container import damaged as precheck_damaged
from samples.reliability import zipped

BASE = {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"}


@pytest.mark.parametrize(
    "data, rule",
    [
        (b"", "F01"),
        (bytes(range(256)) * 20, "F01"),
        (OLE_MAGIC + b"\x00" * 500, "F02"),
        ("ОО;наставники\nШкола;5\n".encode("cp1251"), "F08"),
        (b"<!DOCTYPE html><html><table></table></html>", "F08"),
        (
            zipped({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<x/>"}),
            "F03",
        ),
        (zipped({**BASE, "xl/workbook.bin": b"\x00"}), "F04"),
        (zipped({**BASE, "xl/vbaProject.bin": b"\x00"}), "F04"),
        (zipped({**BASE, "xl/externalLinks/externalLink1.xml": b"<externalLink/>"}), "F06"),
        (
            zipped(
                {
                    **BASE,
                    "xl/worksheets/sheet1.xml": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>',
                }
            ),
            "F06",
        ),
        # only each part's prolog is read: a declaration after a long comment, or one whose comment holds a fake tag
        (
            zipped(
                {**BASE, "xl/styles.xml": b"<!--" + b" " * 9000 + b"--><!DOCTYPE x [<!ENTITY a 'b'>]><x/>"}
            ),
            "F06",
        ),
        (zipped({**BASE, "xl/styles.xml": b"<?xml version='1.0'?><!-- <root> --><!DOCTYPE x><x/>"}), "F06"),
        (
            zipped(
                {
                    "[Content_Types].xml": b"<Types/>",
                    "xl/workbook.xml": b'<workbook xmlns="http://purl.oclc.org/ooxml/spreadsheetml/main"/>',
                }
            ),
            "F05",
        ),
        (zipped({"word/document.xml": b"<w/>", "[Content_Types].xml": b"<Types/>"}), "F01"),
    ],
)
def test_bad_containers(data, rule):
    problem = precheck(data, "отчёт.xlsx")
    assert problem is not None and problem.rule == rule
    assert problem.fix and any("а" <= ch <= "я" for ch in problem.message.lower())


def test_zip_bomb_by_ratio():
    bomb = zipped({**BASE, "xl/worksheets/sheet1.xml": b"<" + b"a" * (40 * 1024 * 1024) + b">"})
    assert precheck(bomb, "b.xlsx").rule == "F07"


def test_truncated_workbook(template):
    data = template.read_bytes()
    assert precheck(data, "t.xlsx") is None
    assert precheck(data[: len(data) // 2], "t.xlsx").rule == "F01"


def test_a_damaged_part_is_refused_when_read(template, tmp_path):
    """The pre-check inflates only each part's beginning; the full read inflates every value part and checks
    its CRC, so a flipped bit inside a sheet is answered as a damaged file, not read as data."""
    from datetime import datetime

    from pipeline.intake.examine import examine
    from pipeline.reference import Issuer

    data = bytearray(template.read_bytes())
    with zipfile.ZipFile(template) as z:
        info = max(
            (i for i in z.infolist() if i.filename.startswith("xl/worksheets/")),
            key=lambda i: i.compress_size,
        )
    name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
    data[info.header_offset + 30 + name_length + extra_length + info.compress_size // 2] ^= 0x10
    damaged = tmp_path / "damaged.xlsx"
    damaged.write_bytes(bytes(data))
    assert precheck(bytes(data), damaged.name) is None
    result = examine(damaged, Issuer("any-key"), datetime(2025, 12, 20), damaged.name)
    expected = precheck_damaged(damaged.name)
    assert result.verdict == "rejected" and [(i.rule, i.message) for i in result.issues] == [
        (expected.rule, expected.message)
    ]
