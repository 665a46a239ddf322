"""Files that must never reach a spreadsheet library are rejected with their own rule."""

from __future__ import annotations

import pytest

from pipeline.precheck import OLE_MAGIC, precheck
from pipeline.reliability import zipped

BASE = {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"}


@pytest.mark.parametrize("data, rule", [
    (b"", "F01"),
    (bytes(range(256)) * 20, "F01"),
    (OLE_MAGIC + b"\x00" * 500, "F02"),
    ("ОО;наставники\nШкола;5\n".encode("cp1251"), "F08"),
    (b"<!DOCTYPE html><html><table></table></html>", "F08"),
    (zipped({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<x/>"}), "F03"),
    (zipped({**BASE, "xl/workbook.bin": b"\x00"}), "F04"),
    (zipped({**BASE, "xl/vbaProject.bin": b"\x00"}), "F04"),
    (zipped({**BASE, "xl/externalLinks/externalLink1.xml": b"<externalLink/>"}), "F06"),
    (zipped({**BASE, "xl/worksheets/sheet1.xml": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>'}), "F06"),
    (zipped({"[Content_Types].xml": b"<Types/>",
             "xl/workbook.xml": b'<workbook xmlns="http://purl.oclc.org/ooxml/spreadsheetml/main"/>'}), "F05"),
    (zipped({"word/document.xml": b"<w/>", "[Content_Types].xml": b"<Types/>"}), "F01"),
])
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
