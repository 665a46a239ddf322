"""Editing an .xlsx package in place: its parts by name (read through the container's CRC-checked inflate),
where each sheet's part is, free part names and relationship ids, content types, and a well-formedness check of
every edited part. What cannot be edited safely raises `CannotPatch`.
"""

from __future__ import annotations

import html
import re
import xml.parsers.expat
import zipfile
from dataclasses import dataclass, field

from pipeline.xlsx.container import member

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"


class CannotPatch(ValueError):
    """This file's parts are not in a shape the patcher edits safely; re-write it instead."""


@dataclass
class Package:
    data: bytes
    infos: list[zipfile.ZipInfo]
    archive: zipfile.ZipFile
    changed: dict[str, bytes] = field(default_factory=dict)

    def names(self) -> set[str]:
        return {i.filename for i in self.infos} | set(self.changed)

    def read(self, name: str, limit: int = 0) -> str:
        """A part's text, or (`limit`) about its first `limit` bytes, inflating no more: enough to look at what
        precedes a sheet's cells."""
        if name in self.changed:
            return self.changed[name].decode("utf-8")
        info = next((i for i in self.infos if i.filename == name), None)
        if info is None:
            raise CannotPatch(f"no part {name}")
        return member(self.data, info, self.archive, limit).decode(
            "utf-8", errors="ignore" if limit else "strict"
        )

    def write(self, name: str, text: str) -> None:
        self.changed[name] = text.encode("utf-8")


def check_well_formed(name: str, payload: bytes) -> None:
    if name.endswith((".xml", ".rels", ".vml")):
        try:
            xml.parsers.expat.ParserCreate().Parse(payload, True)
        except xml.parsers.expat.ExpatError as exc:
            raise CannotPatch(f"{name} would not be well-formed: {exc}") from exc


def attrs(tag: str) -> dict[str, str]:
    return {k: html.unescape(v) for k, v in re.findall(r'([\w:]+)="([^"]*)"', tag)}


def sheet_parts(pkg: Package) -> dict[str, str]:
    """Sheet title -> its part name, from the workbook and its relationships (unprefixed XML only)."""
    book = pkg.read("xl/workbook.xml")
    if not re.search(rf'<workbook\b[^>]*\sxmlns="{MAIN_NS}"', book):
        raise CannotPatch("the workbook part is prefixed or not SpreadsheetML")
    rels = {
        a["Id"]: a["Target"]
        for a in map(attrs, re.findall(r"<Relationship\b[^>]*>", pkg.read("xl/_rels/workbook.xml.rels")))
    }
    sheets = {}
    for tag in re.findall(r"<sheet\b[^>]*>", book):
        a = attrs(tag)
        target = rels.get(a.get("r:id", ""), "")
        sheets[a.get("name", "")] = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return sheets


def free_name(pkg: Package, pattern: str) -> str:
    n = 1
    while pattern.format(n) in pkg.names():
        n += 1
    return pattern.format(n)


def rels_part(part: str) -> str:
    folder, name = part.rsplit("/", 1)
    return f"{folder}/_rels/{name}.rels"


def free_id(taken: set[str]) -> str:
    n = 1
    while f"rIdSvod{n}" in taken:
        n += 1
    return f"rIdSvod{n}"


def add_content_types(
    pkg: Package, overrides: dict[str, str], defaults: dict[str, str] | None = None
) -> None:
    types = pkg.read("[Content_Types].xml")
    added = "".join(
        f'<Default Extension="{ext}" ContentType="{ct}"/>'
        for ext, ct in (defaults or {}).items()
        if not re.search(rf'<Default\b[^>]*Extension="{ext}"', types, re.I)
    )
    added += "".join(f'<Override PartName="{name}" ContentType="{ct}"/>' for name, ct in overrides.items())
    if "</Types>" not in types:
        raise CannotPatch("content types part")
    pkg.write("[Content_Types].xml", types.replace("</Types>", added + "</Types>", 1))
