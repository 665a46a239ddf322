"""The reliability report: a generated corpus of bad files in every class of shared/reliability.md, mutation
fuzzing of valid returns, and the figures that show nothing crashed, nothing was lost and nothing leaked.

Everything is made by code from a freshly issued template; nothing here is used by the pipeline itself.
`svod reliability [--fuzz N]` prints the report; the test suite runs it on a reduced corpus.
"""

from __future__ import annotations

import io
import os
import random
import re
import resource
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl

from contracts.catalogue import load_catalogue
from pipeline.config import DEMO_SIGNING_KEY, Workspace
from pipeline.domain.vocabulary import WAITING_VERDICTS, Severity, Verdict
from pipeline.intake.routing import UNIDENTIFIED
from pipeline.intake.steps import process_pending, receive_inbox
from pipeline.publish.municipal import publish
from pipeline.publish.regional import write_regional
from pipeline.store.queries import content_hash
from pipeline.xlsx.school_layout import IDENTITY_SHEET, Identity
from pipeline.xlsx.templates import write_template
from samples.fake_school import fill, make_mistake, school_data

MUNICIPALITY, PERIOD, SUBMITTED = "arkhangelsk", "2025-Q4", date(2025, 12, 20)
CANARY = "Канареечкина Агата Петровна"
_FORMULA_OR_LINK = re.compile(rb"<f[ >]|<hyperlink\b[^>]*r:id=")  # formulas, or links to outside targets
HANG_SECONDS = 120


@dataclass
class Case:
    kind: str  # the class in shared/reliability.md
    name: str
    data: bytes


@dataclass
class Report:
    tried: Counter = field(default_factory=Counter)
    uncaught: int = 0
    hangs: int = 0
    worst_seconds: float = 0.0
    worst_file: str = ""
    worst_parse_mb: float = 0.0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    replay_identical: bool = False
    formula_elements: int = 0
    canaries_above_municipality: int = 0
    annotated_copies: int = 0
    rewritten_copies: int = 0  # made by the openpyxl fallback, not by patching
    broken_copies: int = 0  # annotated copies that do not open
    rejections: int = 0
    rejections_in_russian: int = 0

    def lines(self) -> list[str]:
        out = [f"files tried, {kind}: {n}" for kind, n in sorted(self.tried.items())]
        out += [
            f"files tried, total: {sum(self.tried.values())}",
            f"uncaught exceptions: {self.uncaught}",
            f"hangs: {self.hangs}",
            f"worst time per file: {self.worst_seconds:.2f} s ({self.worst_file})",
            f"worst memory per file (peak RSS of a parsing worker): {self.worst_parse_mb:.0f} MB",
            f"rows read = loaded + rejected: {self.rows_read} = {self.rows_loaded} + {self.rows_rejected}"
            f" ({'ok' if self.rows_read == self.rows_loaded + self.rows_rejected else 'MISMATCH'})",
            f"shuffled, duplicated replay gives an identical warehouse: {'yes' if self.replay_identical else 'NO'}",
            f"formula or external-link elements from data in outputs: {self.formula_elements}",
            f"canaries above the municipality: {self.canaries_above_municipality}",
            f"rejections with a Russian message: {self.rejections_in_russian} of {self.rejections}",
            f"annotated copies: {self.annotated_copies} (re-written by the fallback: {self.rewritten_copies}), "
            f"broken: {self.broken_copies}",
        ]
        return out

    @property
    def clean(self) -> bool:
        return (
            not self.uncaught
            and not self.hangs
            and self.rows_read == self.rows_loaded + self.rows_rejected
            and self.replay_identical
            and not self.formula_elements
            and not self.canaries_above_municipality
            and self.rejections == self.rejections_in_russian
            and not self.broken_copies
        )


def zipped(parts: dict[str, bytes]) -> bytes:
    """A zip archive of the given parts (deflated), for hand-made containers."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, payload in parts.items():
            z.writestr(name, payload)
    return out.getvalue()


def _parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def _edit(data: bytes, change) -> bytes:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    change(wb)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def resigned(**fields):
    """An openpyxl edit that changes identity fields and signs them again with the dev key (a well-formed forgery
    of an old, foreign or unknown template)."""

    def change(wb):
        sheet = wb[IDENTITY_SHEET]
        ident = Identity(**{r[0]: r[1] for r in sheet.iter_rows(values_only=True)}).model_copy(update=fields)
        for r, (k, v) in enumerate(ident.signed(DEMO_SIGNING_KEY).rows(), start=1):
            sheet.cell(r, 1).value, sheet.cell(r, 2).value = k, v

    return change


def _title(code: str) -> str:
    return load_catalogue().sheet(code).title


def corpus(good: bytes, messy: dict[str, bytes]) -> list[Case]:
    """At least 60 hand-made bad or awkward files, by class."""
    parts = _parts(good)
    rng = random.Random(7)
    cases = [
        Case("not a workbook", n, d)
        for n, d in [
            ("empty.xlsx", b""),
            ("random_1k.xlsx", rng.randbytes(1024)),
            ("random_64k.xlsx", rng.randbytes(65536)),
            ("cut_10.xlsx", good[:10]),
            ("cut_half.xlsx", good[: len(good) // 2]),
            ("cut_end.xlsx", good[:-200]),
            ("csv_utf8.xlsx", "ОО;наставники\nШкола;5\n".encode()),
            ("csv_cp1251.xlsx", "ОО;наставники\n".encode("cp1251")),
            ("page.xlsx", b"<html><body><table><tr><td>1</td></tr></table></body></html>"),
            (
                "docx.xlsx",
                zipped({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"}),
            ),
            ("pdf.xlsx", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + rng.randbytes(500)),
            ("text.xlsx", "Отчёт будет позже".encode()),
            ("empty_zip.xlsx", zipped({})),
            ("gzip.xlsx", b"\x1f\x8b\x08\x00" + rng.randbytes(300)),
            ("png.xlsx", b"\x89PNG\r\n\x1a\n" + rng.randbytes(300)),
            (
                "spreadsheetml_2003.xlsx",
                b'<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"/>',
            ),
        ]
    ]
    cases += [
        Case("wrong workbook kind", n, d)
        for n, d in [
            ("legacy.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096)),
            ("encrypted.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"EncryptionInfo" + bytes(4096)),
            ("binary.xlsx", zipped({**parts, "xl/workbook.bin": b"\x00"})),
            (
                "ods.xlsx",
                zipped(
                    {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<x/>"}
                ),
            ),
            ("macros.xlsx", zipped({**parts, "xl/vbaProject.bin": b"\x00\x01"})),
            (
                "macro_types.xlsx",
                zipped(
                    {
                        **parts,
                        "[Content_Types].xml": parts["[Content_Types].xml"].replace(
                            b"sheet.main+xml", b"sheet.macroEnabled.main+xml"
                        ),
                    }
                ),
            ),
            (
                "strict.xlsx",
                zipped(
                    {
                        **parts,
                        "xl/workbook.xml": parts["xl/workbook.xml"].replace(
                            b"http://schemas.openxmlformats.org/spreadsheetml/2006/main",
                            b"http://purl.oclc.org/ooxml/spreadsheetml/main",
                        ),
                    }
                ),
            ),
        ]
    ]
    sheet1 = next(n for n in parts if n.startswith("xl/worksheets/"))
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            f'<!ENTITY {c} "{("&" + p + ";") * 10}">'.encode()
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
        + b"]><x>&i;</x>"
    )
    cases += [
        Case("hostile", n, d)
        for n, d in [
            ("dtd.xlsx", zipped({**parts, sheet1: b'<?xml version="1.0"?><!DOCTYPE x><x/>'})),
            (
                "xxe.xlsx",
                zipped(
                    {
                        **parts,
                        sheet1: b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
                    }
                ),
            ),
            ("laughs.xlsx", zipped({**parts, "xl/sharedStrings.xml": laughs})),
            (
                "bomb_ratio.xlsx",
                zipped({**parts, "xl/media/pad.xml": b"<a>" + b"0" * (60 * 1024 * 1024) + b"</a>"}),
            ),
            (
                "bomb_parts.xlsx",
                zipped(
                    {
                        **parts,
                        **{
                            f"xl/media/p{i}.xml": b"<a>" + b"1" * (4 * 1024 * 1024) + b"</a>"
                            for i in range(90)
                        },
                    }
                ),
            ),
            (
                "external_link.xlsx",
                zipped({**parts, "xl/externalLinks/externalLink1.xml": b"<externalLink/>"}),
            ),
            (
                "dde.xlsx",
                zipped(
                    {
                        **parts,
                        "xl/externalLinks/externalLink1.xml": b'<externalLink><ddeLink ddeService="cmd"/></externalLink>',
                    }
                ),
            ),
            ("oversized.xlsx", good + rng.randbytes(51 * 1024 * 1024)),
        ]
    ]
    cases += [
        Case("wrong template", n, _edit(good, change))
        for n, change in [
            ("old_version.xlsx", resigned(template_version="2024.1")),
            ("edited_meta.xlsx", lambda wb: wb[IDENTITY_SHEET].cell(3, 2).__setattr__("value", "ARH-002")),
            ("unknown_school.xlsx", resigned(school_id="ARH-999")),
            (
                "foreign_key.xlsx",
                lambda wb: [resigned()(wb), wb[IDENTITY_SHEET].cell(8, 2).__setattr__("value", "0" * 64)],
            ),
            ("other_period.xlsx", resigned(period="2031-Q1")),
            ("other_school_title.xlsx", lambda wb: wb[_title("meta")]["D3"].__setattr__("value", "ARH-007")),
            ("no_identity.xlsx", lambda wb: wb.remove(wb[IDENTITY_SHEET])),
            ("sheet_renamed.xlsx", lambda wb: setattr(wb[_title("awards")], "title", "Награды")),
            ("sheet_deleted.xlsx", lambda wb: wb.remove(wb[_title("partners")])),
            ("sheet_added.xlsx", lambda wb: wb.create_sheet("Мои заметки")),
            ("columns_moved.xlsx", lambda wb: wb[_title("mentors")].move_range("B1:B60", cols=22)),
            ("header_shifted.xlsx", lambda wb: wb[_title("pairs")].insert_rows(1, 3)),
            ("column_deleted.xlsx", lambda wb: wb[_title("events")].delete_cols(3)),
            (
                "codes_and_labels_renamed.xlsx",
                lambda wb: [wb[_title("awards")].cell(r, 2).__setattr__("value", "Вид") for r in (1, 2)],
            ),
        ]
    ]
    cases += [Case("messy but honest values", n, d) for n, d in messy.items()]
    return cases


def messy_returns(template: Path, folder: Path) -> dict[str, bytes]:
    """Returns a curator could plausibly send: Russian number/date text, look-alike letters, layout quirks."""
    edits = {
        "numbers_as_text.xlsx": lambda d: d["school_profile"][0].update(
            ped_staff_total="1\u00a0204", teachers_under_35=" 12 "
        ),
        "comma_decimals.xlsx": lambda d: d["mentors"][0].update(ped_experience_years="12,5"),
        "dates_as_text.xlsx": lambda d: d["pairs"][0].update(start_date="01.09.2025"),
        "iso_dates.xlsx": lambda d: d["pairs"][0].update(start_date="2025-09-01"),
        "yo_and_case.xlsx": lambda d: d["mentors"][0].update(status="АКТИВНЫЙ (ЗАКРЕПЛЁН)"),
        "dash_variants.xlsx": lambda d: d["pairs"][0].update(form="педагог—педагог"),
        "nbsp_zwsp.xlsx": lambda d: d["pairs"][0].update(
            status=load_catalogue().status("pair_active") + "\u200b\u00a0"
        ),
        "latin_lookalikes.xlsx": lambda d: d["pairs"][0].update(status="дeйcтвyeт"),
        "bad_date.xlsx": lambda d: make_mistake(d, "bad_date"),
        "typo.xlsx": lambda d: make_mistake(d, "enum_typo"),
        "formula_text.xlsx": lambda d: d["programmes"][0].update(
            title='=HYPERLINK("http://evil.example","жми")'
        ),
        "canary.xlsx": lambda d: d["mentors"][0].update(full_name=CANARY),
    }
    out = {}
    for k, (name, edit) in enumerate(edits.items()):
        data = school_data(template, 100 + k, "small", SUBMITTED)
        edit(data)
        out[name] = fill(template, folder / name, data).read_bytes()
    base = fill(template, folder / "base.xlsx", school_data(template, 99, "small", SUBMITTED)).read_bytes()
    layout = {
        "merged.xlsx": lambda wb: wb[_title("pairs")].merge_cells("E3:E4"),
        "hidden_row.xlsx": lambda wb: setattr(wb[_title("mentors")].row_dimensions[4], "hidden", True),
        "totals_row.xlsx": lambda wb: [
            wb[_title("events")]["A20"].__setattr__("value", "Итого"),
            wb[_title("events")]["J20"].__setattr__("value", 9),
        ],
        "uncached_formula.xlsx": lambda wb: wb[_title("school_profile")]["E3"].__setattr__("value", "=10+5"),
    }
    out.update({name: _edit(base, change) for name, change in layout.items()})
    return out


def mutations(good: bytes, n: int, seed: int = 1) -> list[Case]:
    """Bit-flipped, truncated, entry-dropped and re-zipped variants of a valid return."""
    rng = random.Random(seed)
    parts = _parts(good)
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            data = bytearray(good)
            for _ in range(rng.randint(1, 20)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            data = bytes(data)
        elif kind == 1:
            data = good[: rng.randrange(1, len(good))]
        elif kind == 2:
            drop = rng.choice(list(parts))
            data = zipped({k: v for k, v in parts.items() if k != drop})
        else:
            victim = rng.choice([k for k in parts if k.endswith(".xml")])
            body = bytearray(parts[victim])
            for _ in range(rng.randint(1, 5)):
                body[rng.randrange(len(body))] = rng.choice(b"<>&\"'x0 ")
            data = zipped({**parts, victim: bytes(body)})
        out.append(Case("mutation", f"mutant_{i:04d}.xlsx", data))
    return out


def _drop(ws: Workspace, cases: list[tuple[Case, datetime]]) -> None:
    for case, received in cases:
        path = ws.inbox / case.name
        path.write_bytes(case.data)
        os.utime(path, (received.timestamp(), received.timestamp()))


def _ingest(ws: Workspace, report: Report | None) -> None:
    """Receive and check everything in the inbox; with a report, count what escapes instead of raising."""
    with ws.connect() as con:
        for only in (UNIDENTIFIED, (MUNICIPALITY, PERIOD)):
            try:
                receive_inbox(ws, con, 0, only=only)
                if only != UNIDENTIFIED:
                    process_pending(ws, con, MUNICIPALITY, PERIOD)
            except Exception:
                if report is None:
                    raise
                report.uncaught += 1


def _received(k: int) -> datetime:
    return datetime(2025, 12, 1, 9) + timedelta(minutes=k)


def run_report(n_fuzz: int = 1000, workdir: Path | None = None) -> Report:
    """Build the corpus, feed it through the real intake one file at a time, and measure."""
    report = Report()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(workdir or tmp)
        ws = Workspace.resolve(root / "home", signing_key=DEMO_SIGNING_KEY)
        template = write_template(root / "t", ws.issuer, MUNICIPALITY, PERIOD, "ARH-001", date(2025, 10, 1))
        good = fill(template, root / "good.xlsx", school_data(template, 1, "medium", SUBMITTED)).read_bytes()
        cases = corpus(good, messy_returns(template, root / "messy")) + mutations(good, n_fuzz)
        report.tried.update(c.kind for c in cases)
        per_file = []
        for k, case in enumerate(cases):
            _drop(ws, [(case, _received(k))])
            started = time.monotonic()
            _ingest(ws, report)
            per_file.append((time.monotonic() - started, case.name))
        report.worst_seconds, report.worst_file = max(per_file)
        report.worst_parse_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        report.hangs = sum(t > HANG_SECONDS for t, _ in per_file)
        with ws.connect() as con:
            read, loaded, rejected = con.execute(
                "SELECT coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0), "
                "coalesce(sum(rows_read) FILTER (WHERE verdict = ?), 0) FROM submission WHERE verdict NOT IN ?",
                [Verdict.REJECTED.value, [v.value for v in WAITING_VERDICTS]],
            ).fetchone()
            report.rows_read, report.rows_loaded, report.rows_rejected = int(read), int(loaded), int(rejected)
            per_submission = con.execute(
                "SELECT s.sha256, bool_or(regexp_matches(i.message, '[а-яА-Я]') AND regexp_matches(i.fix, '[а-яА-Я]')) "
                "FROM submission s LEFT JOIN issue i ON i.sha256 = s.sha256 AND i.severity = ? "
                "WHERE s.verdict = ? GROUP BY 1",
                [Severity.ERROR.value, Verdict.REJECTED.value],
            ).fetchall()
            publish(con, ws.reference, ws.out, MUNICIPALITY, PERIOD, ws.key)
            write_regional(con, ws.reference, ws.out, "arkhangelsk_obl", {MUNICIPALITY: PERIOD})
        report.rejections = len(per_submission)
        report.rejections_in_russian = sum(bool(ok) for _, ok in per_submission)
        for path in ws.out.rglob("*.xlsx"):
            with zipfile.ZipFile(path) as z:
                report.formula_elements += sum(
                    len(_FORMULA_OR_LINK.findall(z.read(n)))
                    for n in z.namelist()
                    if n.startswith("xl/worksheets/sheet")
                )
        for path in ws.outbox.rglob("*_проверка.xlsx"):
            report.annotated_copies += 1
            receipt = path.with_name(path.name.replace("проверка.xlsx", "квитанция.txt"))
            report.rewritten_copies += "пересохранена заново" in receipt.read_text(encoding="utf-8")
            try:
                openpyxl.load_workbook(path)
            except Exception:
                report.broken_copies += 1
        for path in (ws.out / "region").rglob("*.xlsx"):
            with zipfile.ZipFile(path) as z:
                report.canaries_above_municipality += sum(CANARY.encode() in z.read(n) for n in z.namelist())
        stamped = [(case, _received(k)) for k, case in enumerate(cases)]
        copies = [(Case(c.kind, f"копия_{c.name}", c.data), t + timedelta(days=1)) for c, t in stamped[::5]]
        report.replay_identical = _replay(root / "a", stamped) == _replay(root / "b", stamped[::-1] + copies)
    return report


def _replay(home: Path, files: list[tuple[Case, datetime]]) -> str:
    """Content hash of a warehouse built from one inbox holding these files, dropped in this order."""
    ws = Workspace.resolve(home, signing_key=DEMO_SIGNING_KEY)
    _drop(ws, files)
    _ingest(ws, None)
    with ws.connect() as con:
        return content_hash(con)
