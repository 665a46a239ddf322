"""The regional tier: take in municipal summary workbooks sent up by municipalities running their own svod.

A municipal workbook carries its municipality-level figures on a hidden `_data` sheet and a signed seal on a
very hidden `_svod` sheet. Only a workbook whose seal verifies and whose figures hash to the sealed digest is
loaded, as a run whose `source_file` is the workbook's sha256; ОО-level rows never enter the regional tier.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from python_calamine import CalamineWorkbook

from pipeline.config import Workspace
from pipeline.domain.figures import Figure
from pipeline.domain.indicators import BY_CODE
from pipeline.domain.suppression import FEW_RESPONDENTS, HIDDEN_PART
from pipeline.domain.vocabulary import Level
from pipeline.intake.inbox import archive_file, sha256_of
from pipeline.reference import Issuer
from pipeline.store import queries, runs
from pipeline.xlsx.container import precheck
from pipeline.xlsx.summary_layout import DATA_HEADER, DATA_SHEET, SEAL_SHEET, SummarySeal, figures_digest


@dataclass
class UpstreamResult:
    name: str
    sha256: str
    accepted: bool
    message: str


def read_sealed(path: Path, issuer: Issuer) -> tuple[SummarySeal, list[list]]:
    """The seal and figure rows of a municipal summary signed with the issuer's key, for a municipality of its
    reference; raises ValueError with a Russian reason."""
    problem = precheck(path.read_bytes(), path.name)
    if problem:
        raise ValueError(problem.message)
    book = CalamineWorkbook.from_path(str(path))
    if SEAL_SHEET not in book.sheet_names or DATA_SHEET not in book.sheet_names:
        raise ValueError("это не сводная книга муниципалитета svod (нет служебных листов)")
    seal = SummarySeal.from_rows(book.get_sheet_by_name(SEAL_SHEET).to_python())
    if not seal.verify(issuer.signing_key):
        raise ValueError("подпись сводной книги не совпадает: книга изменена или подписана другим ключом")
    rows = book.get_sheet_by_name(DATA_SHEET).to_python()
    if not rows or [str(v) for v in rows[0]] != DATA_HEADER:
        raise ValueError("лист данных сводной книги повреждён")
    data = [[None if v == "" else v for v in row] for row in rows[1:]]
    if figures_digest(data) != seal.figures_sha256:
        raise ValueError("числа на листе данных не совпадают с подписанными: книга изменена вручную")
    if seal.municipality not in issuer.reference.municipalities:
        raise ValueError(f"муниципалитет «{seal.municipality}» не найден в справочнике")
    return seal, data


def _figure(row: list) -> Figure:
    """A municipal figure of the data sheet: numbers, or, where the municipality hid it (§4), no numbers."""
    ind, hidden = BY_CODE[row[1]], row[5] == HIDDEN_PART
    numerator = 0.0 if hidden else float(row[5])
    denominator = None if hidden or row[6] is None else float(row[6])
    return ind.figure(
        Level(row[2]), row[3], row[4], numerator, denominator, FEW_RESPONDENTS if hidden else None
    )


def ingest_municipal_summaries(ws: Workspace, con) -> list[UpstreamResult]:
    """Load every verified municipal summary from `upstream/` into the warehouse as an upstream run."""
    folder = ws.home / "upstream"
    folder.mkdir(exist_ok=True)
    results = []
    for path in sorted(folder.glob("*.xlsx")):
        data = path.read_bytes()
        digest = sha256_of(data)
        archive_file(ws, data, path.name)
        try:
            seal, rows = read_sealed(path, ws.issuer)
        except ValueError as exc:
            results.append(
                UpstreamResult(path.name, digest, False, f"Сводка «{path.name}» не принята: {exc}.")
            )
            continue
        if queries.computed_here(con, seal.run_id):
            results.append(
                UpstreamResult(
                    path.name,
                    digest,
                    False,
                    f"Сводка «{path.name}» не нужна: этот расчёт уже выполнен здесь ({seal.run_id}).",
                )
            )
            continue
        figures = [
            (row[0], _figure(row)) for row in rows if row[2] == Level.MUNICIPALITY and row[1] in BY_CODE
        ]
        frame = pd.DataFrame(
            [
                {
                    "figure_id": fid,
                    "run_id": seal.run_id,
                    "indicator": f.indicator,
                    "level": f.level.value,
                    "entity": f.entity,
                    "period": f.period,
                    "numerator": None if f.hidden else f.numerator,
                    "denominator": None if f.hidden else f.denominator,
                    "value": None if f.hidden else f.value,
                    "hidden": f.hidden,
                }
                for fid, f in figures
            ]
        )
        runs.replace_sent_up_run(con, seal.run_id, seal.municipality, seal.period, digest, frame)
        results.append(
            UpstreamResult(
                path.name,
                digest,
                True,
                f"Сводка {seal.municipality} за {seal.period} принята (расчёт {seal.run_id}).",
            )
        )
    return results
