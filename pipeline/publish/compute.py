"""Computing a run and storing it: the figures of every ОО and of the municipality from a snapshot of checked
returns, with the cells each came from, stored in one transaction and journaled so it can be re-issued.

Only returns never computed before for the period are evaluated; the others' per-return figures are read back.
Rendering a workbook reads a stored run (`stored_run`) and never recomputes it, so the workbook shows exactly
the run the asset checks verified.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import pandas as pd

from contracts.catalogue import load_catalogue
from pipeline.bulk import rare_collections
from pipeline.domain.figures import Figure, aggregate, run_id_for
from pipeline.domain.indicators import (
    BY_CODE,
    EMPTY_SHEET,
    INDICATORS,
    INTAKE,
    PART_RU,
    SHARED_SHEETS,
    SHEET_TITLES,
    Scope,
    return_figures,
    shared_numerators,
)
from pipeline.domain.suppression import suppress
from pipeline.domain.vocabulary import Level
from pipeline.files import atomic_write
from pipeline.reference import Reference
from pipeline.store import queries, runs


@dataclass
class Computed:
    run_id: str
    municipality: str
    period: str
    snapshot: list[str]  # every checked return the run saw
    figures: list[Figure]
    subs: pd.DataFrame  # the returns that count: each school's newest accepted one
    files: pd.DataFrame  # every received file of the snapshot (what a `per_file` indicator sums)
    new_figures: pd.DataFrame | None = None  # per-return figures first computed by this run (stored with it)
    new_sources: pd.DataFrame | None = None
    # (indicator, entity) -> its sources in words, and its figure id; read back with a stored run, for rendering
    texts: dict[tuple[str, str], str] = field(default_factory=dict)
    ids: dict[tuple[str, str], str] = field(default_factory=dict)


TEXT_LIMIT = 30000  # characters of source list per workbook cell; the rest is in `svod explain`


def _limited(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + " … (полный список: svod explain)"


_CELL = re.compile(r"([A-Z]+)(\d+)")


def cell_ranges(cells: list[str]) -> str:
    """A sheet's cells in words, each run down a column as a range: ["A3", "A4", "A5", "C7"] -> "A3:A5, C7"."""
    runs: list[list | str] = []  # [column, first row, last row], or a cell that is not an address, as written
    for cell in cells:
        m = _CELL.fullmatch(cell)
        last = runs[-1] if runs else None
        if m and isinstance(last, list) and last[0] == m[1] and int(m[2]) == last[2] + 1:
            last[2] += 1
        else:
            runs.append([m[1], int(m[2]), int(m[2])] if m else cell)
    return ", ".join(
        run
        if isinstance(run, str)
        else f"{run[0]}{run[1]}" + (f":{run[0]}{run[2]}" if run[2] > run[1] else "")
        for run in runs
    )


def _sources_texts(sources: pd.DataFrame, versions: dict[str, int]) -> dict[tuple[str, str], str]:
    """(indicator, sha256) -> «ОО (файл …, версия …) числитель: Лист!A3:A9, A12, Лист 2!B3; …», parts in a fixed
    order, each sheet's cells in their order with runs down a column as ranges."""
    cells: dict[tuple, dict[str, list[str]]] = {}
    columns = [sources[c] for c in ("indicator", "sha256", "school_id", "part", "sheet", "cell")]
    for indicator, sha, school, part, sheet, cell in zip(*columns, strict=True):
        cells.setdefault((indicator, sha, school, part), {}).setdefault(sheet, []).append(cell)
    texts: dict[tuple[str, str], list[str]] = {}
    for (indicator, sha, school, part), sheets in sorted(cells.items()):
        refs = ", ".join(
            f"{SHEET_TITLES[sheet]}!{cell_ranges(listed)}"
            if listed != [""]
            else f"{SHEET_TITLES[sheet]} {EMPTY_SHEET}"
            for sheet, listed in sheets.items()
        )
        texts.setdefault((indicator, sha), []).append(
            f"{school} (файл {sha[:12]}, версия {versions.get(sha, '?')}) {PART_RU[part]}: {refs}"
        )
    return {key: "; ".join(parts) for key, parts in texts.items()}


PER_RETURN = [i for i in INDICATORS if not i.per_file]
PER_FILE = [i for i in INDICATORS if i.per_file]


def _returns_figures(
    con, returns: pd.DataFrame, files: pd.DataFrame, period, period_code: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Figures and source cells of returns (and, for `per_file` indicators, of received files) not computed
    before: their facts only, evaluated together. A file's contribution is its own line of the intake journal."""
    parts = []
    if len(returns):
        shas = list(returns["sha256"])
        frames, letters = queries.facts_of(con, shas), queries.letters_of(con, shas)
        frames[INTAKE] = queries.intake_of(con, shas)
        parts.append(return_figures(returns, Scope(frames, period.start, period.end), letters, PER_RETURN))
    if len(files):
        journal = queries.files_journal(con, list(files["sha256"]))
        no_letters = pd.DataFrame(columns=["sha256", "sheet", "code", "letter"])
        parts.append(
            return_figures(files, Scope({INTAKE: journal}, period.start, period.end), no_letters, PER_FILE)
        )
    if not parts:
        return pd.DataFrame(columns=[*RETURN_FIGURE_COLUMNS]), pd.DataFrame(columns=[*RETURN_SOURCE_COLUMNS])
    figures = pd.concat([f for f, _ in parts], ignore_index=True)
    sources = pd.concat([s for _, s in parts], ignore_index=True)
    versions = pd.concat([returns, files])
    texts = _sources_texts(sources, dict(zip(versions["sha256"], versions["version"], strict=True)))
    figures["period"], sources["period"] = period_code, period_code
    figures["sources_text"] = [
        texts.get((i, sha), "") for i, sha in zip(figures["indicator"], figures["sha256"], strict=True)
    ]
    return figures[RETURN_FIGURE_COLUMNS], sources[RETURN_SOURCE_COLUMNS]


RETURN_FIGURE_COLUMNS = [
    "indicator",
    "period",
    "sha256",
    "school_id",
    "numerator",
    "denominator",
    "sources_text",
]
RETURN_SOURCE_COLUMNS = ["indicator", "period", "sha256", "school_id", "part", "sheet", "cell", "value"]


@rare_collections()
def compute(
    con, ref: Reference, municipality: str, period_code: str, snapshot: list[str] | None = None
) -> Computed:
    """Figures per ОО and for the municipality from a snapshot of returns (default: what is checked now).

    Only returns never computed before for this period are evaluated; the others' figures are read back."""
    period = ref.municipalities[municipality].period(period_code)
    shas = sorted(queries.snapshot(con, municipality, period_code) if snapshot is None else snapshot)
    subs, files = queries.current_returns(con, shas), queries.files_of(con, shas)
    run_id = run_id_for(municipality, period_code, shas, load_catalogue().fingerprint, ref.version)
    known = queries.return_figures(con, period_code, shas)
    new_figures, new_sources = _returns_figures(
        con, _lacking(subs, known, PER_RETURN), _lacking(files, known, PER_FILE), period, period_code
    )
    per_return = (
        pd.concat([f for f in (known, new_figures) if len(f)])
        if len(known) or len(new_figures)
        else new_figures
    )
    by_key = _contributions(per_return)
    shared = shared_numerators(
        Scope(queries.facts_of(con, list(subs["sha256"]), SHARED_SHEETS), period.start, period.end)
    )
    figures = _assemble(
        municipality, period_code, subs, files, by_key, len(ref.municipalities[municipality].schools), shared
    )
    return Computed(run_id, municipality, period_code, shas, figures, subs, files, new_figures, new_sources)


def _summed(ind, subs: pd.DataFrame, files: pd.DataFrame) -> pd.DataFrame:
    """What an indicator's municipal figure sums: every received file for a `per_file` one, else the counted
    returns (columns sha256, school_id, …)."""
    return files if ind.per_file else subs


def _lacking(returns: pd.DataFrame, known: pd.DataFrame, indicators: list) -> pd.DataFrame:
    """The returns (or files) whose stored contributions lack one of `indicators`: never computed, or computed
    before an indicator was added or redefined (`warehouse.ensure_schema` drops a redefined one's rows)."""
    codes = {i.code for i in indicators}
    has = known[known["indicator"].isin(codes)].groupby("sha256")["indicator"].nunique()
    return returns[returns["sha256"].map(has).fillna(0).lt(len(codes))]


def _assemble(
    municipality: str,
    period: str,
    subs: pd.DataFrame,
    files: pd.DataFrame,
    by_key: dict,
    registry: int,
    shared: dict[str, float],
) -> list[Figure]:
    """Figures per ОО and for the municipality, from per-return (numerator, denominator, …) by (indicator, sha256),
    hidden where §4 says so (`suppression.suppress`, for the municipality's readers); a share over the registry
    is the municipality's only, over its `registry` ОО; a `per_file` one sums every received file's line; a
    `shared` numerator counts what several ОО share once."""
    figures = []
    pairs: dict[bool, list[tuple[str, str]]] = {}  # (ОО, sha256) of what an indicator sums, by `per_file`
    for ind in INDICATORS:
        if ind.per_file not in pairs:
            inputs = _summed(ind, subs, files)
            pairs[ind.per_file] = list(zip(inputs["school_id"], inputs["sha256"], strict=True))
    for ind in INDICATORS:
        parts = [
            ind.figure(
                Level.SCHOOL, school, period, float(num), None if den is None or den != den else float(den)
            )
            for school, sha in pairs[ind.per_file]
            for num, den, _ in [by_key[(ind.code, sha)]]
        ]
        total = (
            aggregate(parts, Level.MUNICIPALITY, municipality, period)
            if parts
            else ind.figure(Level.MUNICIPALITY, municipality, period, 0.0, 0.0 if ind.is_share else None)
        )
        if ind.code in shared:
            total = replace(total, numerator=shared[ind.code])
        if ind.registry:
            total = replace(total, denominator=float(registry))
        figures += [*parts, total] if ind.school_level else [total]
    return suppress(figures, Level.MUNICIPALITY)


def _texts(
    municipality: str, subs: pd.DataFrame, files: pd.DataFrame, by_key: dict
) -> dict[tuple[str, str], str]:
    """(indicator, ОО or municipality) -> where its figure came from, in words."""
    texts = {}
    for ind in INDICATORS:
        for school, sha in zip(subs["school_id"], subs["sha256"], strict=True):
            if ind.school_level:
                texts[(ind.code, school)] = _limited(by_key[(ind.code, sha)][2])
        inputs = _summed(ind, subs, files)
        texts[(ind.code, municipality)] = _limited(
            "; ".join(by_key[(ind.code, sha)][2] for sha in inputs["sha256"])
        )
    return texts


def _contributions(per_return: pd.DataFrame) -> dict[tuple[str, str], tuple]:
    """(indicator, sha256) -> (numerator, denominator, sources' text) of each return's stored figures."""
    return {
        (i, sha): (num, den, text)
        for i, sha, num, den, text in zip(
            per_return["indicator"],
            per_return["sha256"],
            per_return["numerator"],
            per_return["denominator"],
            per_return["sources_text"],
            strict=True,
        )
    }


def stored_run(con, run_id: str) -> Computed:
    """A stored run as it was computed: its snapshot, its figures as stored, and where each came from."""
    municipality, period, shas = queries.run_inputs(con, run_id)
    subs, files = queries.current_returns(con, shas), queries.files_of(con, shas)
    stored = queries.run_figures(con, run_id)
    figures = [
        BY_CODE[i].figure(Level(level), entity, p, num, den, hidden)
        for i, level, entity, p, num, den, hidden, _ in stored
    ]
    ids = {(i, entity): fid for i, _, entity, *_, fid in stored}
    sources = queries.return_figures(con, period, shas)
    texts = _texts(municipality, subs, files, _contributions(sources))
    return Computed(run_id, municipality, period, shas, figures, subs, files, texts=texts, ids=ids)


@rare_collections()
def store(
    con, ref: Reference, run: Computed, journal: Path | None = None, as_of: datetime | None = None
) -> None:
    """Replace this run's figures and lineage in one transaction (idempotent); journal the run's inputs. The run
    is dated by what it saw (`as_of`, default: its newest return or the partition's newest staff decision, so a
    return for correction makes a newer run); a rebuild or re-issue passes the journaled date."""
    run_id, figures, municipality, period = run.run_id, run.figures, run.municipality, run.period
    latest = as_of or queries.data_as_of(con, municipality, period, run.snapshot)
    sha_of = dict(zip(run.subs["school_id"], run.subs["sha256"], strict=True))
    summed = {ind.per_file: list(_summed(ind, run.subs, run.files)["sha256"]) for ind in INDICATORS}
    ids = [f.id(run_id) for f in figures]  # formatted once
    inputs = pd.DataFrame(
        [(fid, sha_of[f.entity]) for fid, f in zip(ids, figures, strict=True) if f.level is Level.SCHOOL]
        + [
            (fid, sha)
            for fid, f in zip(ids, figures, strict=True)
            if f.level is Level.MUNICIPALITY
            for sha in summed[BY_CODE[f.indicator].per_file]
        ],
        columns=["figure_id", "sha256"],
    )
    figure_rows = pd.DataFrame(
        {
            "figure_id": ids,
            "run_id": run_id,
            "indicator": [f.indicator for f in figures],
            "level": [f.level.value for f in figures],
            "entity": [f.entity for f in figures],
            "period": [f.period for f in figures],
            "numerator": [f.numerator for f in figures],
            "denominator": [f.denominator for f in figures],
            "value": [f.value for f in figures],
            "hidden": [f.hidden for f in figures],
        }
    )
    row = {
        "run_id": run_id,
        "municipality": municipality,
        "period": period,
        "created_at": latest,
        "catalogue": load_catalogue().fingerprint,
        "reference": ref.version,
        "submissions": run.snapshot,
    }
    runs.replace_run(con, row, figure_rows, inputs, run.new_figures, run.new_sources)
    if journal is not None:
        record = {
            "run_id": run_id,
            "municipality": municipality,
            "period": period,
            "submissions": run.snapshot,
            "as_of": latest.isoformat() if latest else None,
            "catalogue": load_catalogue().fingerprint,
            "reference": ref.version,
        }
        atomic_write(journal / f"{run_id}.json", json.dumps(record, ensure_ascii=False, indent=1))
