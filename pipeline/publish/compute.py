"""Computing a run and storing it: the figures of every ОО and of the municipality from a snapshot of checked
returns, with the cells each came from, stored in one transaction and journaled so it can be re-issued.

Only returns never computed before for the period are evaluated; the others' per-return figures are read back.
Rendering a workbook reads a stored run (`stored_run`) and never recomputes it, so the workbook shows exactly
the run the asset checks verified.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from contracts.catalogue import load_catalogue
from pipeline.bulk import rare_collections
from pipeline.domain.figures import figure_value, format_id, run_id_for, shown_value
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
from pipeline.domain.suppression import hidden_marks
from pipeline.domain.vocabulary import Level
from pipeline.files import atomic_write
from pipeline.forked import Forked, spare_core
from pipeline.reference import Reference
from pipeline.store import queries, runs

FIGURE_COLUMNS = [
    "figure_id",
    "indicator",
    "level",
    "entity",
    "period",
    "numerator",
    "denominator",
    "value",
    "hidden",
]


@dataclass
class Computed:
    run_id: str
    municipality: str
    period: str
    snapshot: list[str]  # every checked return the run saw
    # FIGURE_COLUMNS, a row a figure: each indicator's ОО in the order of `subs`, then the municipality's
    figures: pd.DataFrame
    subs: pd.DataFrame  # the returns that count: each school's newest accepted one
    files: pd.DataFrame  # every received file of the snapshot (what a `per_file` indicator sums)
    new_figures: pd.DataFrame | None = None  # per-return figures first computed by this run (stored with it)
    new_sources: pd.DataFrame | None = None
    # (indicator, entity) -> its sources in words; read back with a stored run, for rendering
    texts: dict[tuple[str, str], str] = field(default_factory=dict)

    def shown(self) -> dict[tuple[str, str], float | str | None]:
        """(indicator, entity) -> the figure as every sheet and page prints it: the mark where it is hidden."""
        f = self.figures
        return {
            (code, entity): shown_value(value, hidden)
            for code, entity, value, hidden in zip(
                f["indicator"], f["entity"], f["value"], f["hidden"], strict=True
            )
        }


# new returns from which a forked child evaluates half the indicators (for fewer, forking costs more)
EVALUATED_APART_FROM = 200
TEXT_LIMIT = 30000  # characters of source list per workbook cell; the rest is in `svod explain`


def _limited(text: str) -> str:
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + " … (полный список: svod explain)"


_CELL = re.compile(r"([A-Z]+)(\d+)")


def _runs(cells: np.ndarray, segments: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Each segment's cells (consecutive rows sharing a segment number) as runs down a column, in their order:
    (each run in words, "A3" or "A3:A9" or a cell that is not an address as written; each run's segment)."""
    if not len(cells):
        return [], segments[:0]
    codes, distinct = pd.factorize(cells)  # a municipality's returns cite a few thousand distinct cells
    addresses = [_CELL.fullmatch(cell) for cell in distinct]
    written = np.array(
        [f"{m[1]}{int(m[2])}" if m else cell for m, cell in zip(addresses, distinct, strict=True)],
        dtype=object,
    )
    column = pd.factorize(np.array([m[1] if m else None for m in addresses], dtype=object))[0]
    row = np.array([int(m[2]) if m else -2 for m in addresses], dtype=np.int64)
    column, row, is_address = column[codes], row[codes], column[codes] >= 0
    starts = np.ones(len(cells), dtype=bool)
    starts[1:] = (
        (segments[1:] != segments[:-1])
        | ~is_address[1:]
        | ~is_address[:-1]
        | (column[1:] != column[:-1])
        | (row[1:] != row[:-1] + 1)
    )
    first = np.flatnonzero(starts)
    last = np.append(first[1:], len(cells)) - 1
    texts = written[codes]
    return [
        texts[a] if a == b else f"{texts[a]}:{texts[b]}"
        for a, b in zip(first.tolist(), last.tolist(), strict=True)
    ], segments[first]


def _joined_by(texts: list[str], groups: np.ndarray, separator: str) -> list[str]:
    """`texts` of consecutive equal `groups` joined, one per group, in order."""
    bounds = np.flatnonzero(np.diff(groups)) + 1
    edges = [0, *bounds.tolist(), len(texts)]
    return [separator.join(texts[a:b]) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def cell_ranges(cells: list[str]) -> str:
    """A sheet's cells in words, each run down a column as a range: ["A3", "A4", "A5", "C7"] -> "A3:A5, C7"."""
    return ", ".join(_runs(np.array(cells, dtype=object), np.zeros(len(cells), dtype=np.int64))[0])


def _sources_texts(sources: pd.DataFrame, versions: dict[str, int]) -> dict[tuple[str, str], str]:
    """(indicator, sha256) -> «ОО (файл …, версия …) числитель: Лист!A3:A9, A12, Лист 2!B3; …»: parts in order
    of (ОО, part), each part's sheets in the order they were cited, each sheet's cells in their order with runs
    down a column as ranges. Worked out over columns: a municipality cites half a million cells."""
    if not len(sources):
        return {}
    keys = ("indicator", "sha256", "school_id", "part", "sheet")
    codes, names = zip(*(pd.factorize(sources[k].to_numpy(), sort=True) for k in keys), strict=True)
    part_of = np.zeros(len(sources), dtype=np.int64)  # (indicator, sha256, ОО, part), numbered in sort order
    for code, name in zip(codes[:4], names[:4], strict=True):
        part_of = part_of * len(name) + code
    cited = part_of * len(names[4]) + codes[4]  # … and sheet
    position = np.arange(len(sources))
    first_cited = pd.Series(position).groupby(cited).transform("min").to_numpy()
    order = np.lexsort((position, first_cited, part_of))
    cells, cited, part_of = sources["cell"].to_numpy()[order], cited[order], part_of[order]

    def value(key: str, rows: np.ndarray) -> np.ndarray:
        """`key` at these rows of the sorted order (only where a sheet, part or return starts: not every row)."""
        k = keys.index(key)
        return names[k][codes[k][order[rows]]]

    sheet_at = np.flatnonzero(np.diff(cited, prepend=-1))  # each cited sheet's first row
    sheet_end = np.append(sheet_at[1:], len(cells))
    runs, run_sheet = _runs(cells, cited)
    sheets = [
        f"{SHEET_TITLES[sheet]} {EMPTY_SHEET}"
        if end - at == 1 and cells[at] == ""
        else f"{SHEET_TITLES[sheet]}!{listed}"
        for sheet, at, end, listed in zip(
            value("sheet", sheet_at),
            sheet_at.tolist(),
            sheet_end.tolist(),
            _joined_by(runs, run_sheet, ", "),
            strict=True,
        )
    ]
    part_at = sheet_at[np.flatnonzero(np.diff(part_of[sheet_at], prepend=-1))]  # each part's first row
    parts = [
        f"{school} (файл {sha[:12]}, версия {versions.get(sha, '?')}) {PART_RU[part]}: {listed}"
        for school, sha, part, listed in zip(
            value("school_id", part_at),
            value("sha256", part_at),
            value("part", part_at),
            _joined_by(sheets, part_of[sheet_at], ", "),
            strict=True,
        )
    ]
    returns = part_of[part_at] // (len(names[2]) * len(names[3]))  # (indicator, sha256): a return's ОО is one
    return_at = part_at[np.flatnonzero(np.diff(returns, prepend=-1))]
    return dict(
        zip(
            zip(value("indicator", return_at), value("sha256", return_at), strict=True),
            _joined_by(parts, returns, "; "),
            strict=True,
        )
    )


PER_RETURN = [i for i in INDICATORS if not i.per_file]
PER_FILE = [i for i in INDICATORS if i.per_file]


def _returns_figures(
    con, returns: pd.DataFrame, files: pd.DataFrame, period, period_code: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Figures and source cells of returns (and, for `per_file` indicators, of received files) not computed
    before: their facts only, evaluated together. A file's contribution is its own line of the intake journal."""
    parts = []
    versions = dict(zip(returns["sha256"], returns["version"], strict=True))
    versions |= dict(zip(files["sha256"], files["version"], strict=True))
    if len(returns):
        shas = list(returns["sha256"])
        frames, letters = queries.facts_of(con, shas), queries.letters_of(con, shas)
        frames[INTAKE] = queries.intake_of(con, shas)
        parts.append(
            _evaluated(returns, Scope(frames, period.start, period.end), letters, PER_RETURN, versions)
        )
    if len(files):
        journal = queries.files_journal(con, list(files["sha256"]))
        no_letters = pd.DataFrame(columns=["sha256", "sheet", "code", "letter"])
        parts.append(
            _evaluated(
                files, Scope({INTAKE: journal}, period.start, period.end), no_letters, PER_FILE, versions
            )
        )
    if not parts:
        return pd.DataFrame(columns=[*RETURN_FIGURE_COLUMNS]), pd.DataFrame(columns=[*RETURN_SOURCE_COLUMNS])
    figures = pd.concat([f for f, _, _ in parts], ignore_index=True)
    sources = pd.concat([s for _, s, _ in parts], ignore_index=True)
    texts = {k: v for _, _, t in parts for k, v in t.items()}
    figures["period"], sources["period"] = period_code, period_code
    figures["sources_text"] = [
        texts.get((i, sha), "") for i, sha in zip(figures["indicator"], figures["sha256"], strict=True)
    ]
    return figures[RETURN_FIGURE_COLUMNS], sources[RETURN_SOURCE_COLUMNS]


# (figures, source cells, their texts by (indicator, sha256)) of some indicators for some returns
Evaluated = tuple[pd.DataFrame, pd.DataFrame, dict[tuple[str, str], str]]


def _evaluated(
    returns: pd.DataFrame, scope: Scope, letters: pd.DataFrame, indicators: list, versions: dict[str, int]
) -> Evaluated:
    """(figures, source cells, their texts) of `indicators` for `returns`. From `EVALUATED_APART_FROM` returns,
    the second half of the indicators is evaluated by a forked child while this process does the first: the
    same rows in the same order as one process gives."""

    def evaluate(chosen: list) -> Evaluated:
        figures, sources = return_figures(returns, scope, letters, chosen)
        return figures, sources, _sources_texts(sources, versions)

    if len(returns) < EVALUATED_APART_FROM or len(indicators) < 2 or not spare_core():
        return evaluate(indicators)

    def evaluate_apart(chosen: list) -> Evaluated:
        figures, sources, texts = evaluate(chosen)
        return figures, sources.astype("category"), texts  # as categories: a tenth of the bytes to send

    half = len(indicators) // 2
    child = Forked(evaluate_apart, indicators[half:])
    try:
        first = evaluate(indicators[:half])
    except BaseException:
        child.cancel()
        raise
    figures, sources, texts = child.result()
    return (
        pd.concat([first[0], figures], ignore_index=True),
        pd.concat([first[1], sources.astype(object)], ignore_index=True),
        first[2] | texts,
    )


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
    shared = shared_numerators(
        Scope(queries.facts_of(con, list(subs["sha256"]), SHARED_SHEETS), period.start, period.end)
    )
    registry = len(ref.municipalities[municipality].schools)
    figures = _assemble(run_id, municipality, period_code, subs, files, per_return, registry, shared)
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
    run_id: str,
    municipality: str,
    period: str,
    subs: pd.DataFrame,
    files: pd.DataFrame,
    per_return: pd.DataFrame,
    registry: int,
    shared: dict[str, float],
) -> pd.DataFrame:
    """Figures per ОО and for the municipality (FIGURE_COLUMNS) from each return's numerator and denominator,
    hidden where §4 says so (`suppression.hidden_marks`, for the municipality's readers); a share over the
    registry is the municipality's only, over its `registry` ОО; a `per_file` one sums every received file's
    line; a `shared` numerator counts what several ОО share once. Sums are Python's, in the order of the
    returns, so a run gives the same figures to the last bit whatever computed it."""
    parts = _parts(subs, files, per_return)
    columns: dict[str, list] = {k: [] for k in ("indicator", "level", "entity", "numerator", "denominator")}

    def add(code: str, level: Level, entities: list[str], numerators: list, denominators: list) -> None:
        columns["indicator"] += [code] * len(entities)
        columns["level"] += [level] * len(entities)
        columns["entity"] += entities
        columns["numerator"] += numerators
        columns["denominator"] += denominators

    for ind in INDICATORS:
        schools, nums, dens = parts[ind.per_file].get(ind.code, ([], [], []))
        if nums:
            total = max(nums) if ind.largest else sum(nums)
            total_den = sum(d for d in dens if d is not None) if ind.is_share else None
        else:
            total, total_den = 0.0, 0.0 if ind.is_share else None
        total = shared.get(ind.code, total)
        total_den = float(registry) if ind.registry else total_den
        if ind.school_level:
            add(ind.code, Level.SCHOOL, schools, nums, dens)
        add(ind.code, Level.MUNICIPALITY, [municipality], [total], [total_den])
    marks = hidden_marks(
        columns["indicator"],
        columns["level"],
        columns["entity"],
        columns["numerator"],
        columns["denominator"],
        [None] * len(columns["indicator"]),
        Level.MUNICIPALITY,
    )
    units = {i.code: i.unit for i in INDICATORS}
    return pd.DataFrame(
        {
            "figure_id": [
                format_id(code, level, entity, period, run_id)
                for code, level, entity in zip(
                    columns["indicator"], columns["level"], columns["entity"], strict=True
                )
            ],
            "indicator": columns["indicator"],
            "level": [level.value for level in columns["level"]],
            "entity": columns["entity"],
            "period": period,
            "numerator": pd.array(columns["numerator"], dtype="float64"),
            "denominator": pd.array(columns["denominator"], dtype="float64"),
            "value": pd.array(
                [
                    figure_value(units[code], num, den)
                    for code, num, den in zip(
                        columns["indicator"], columns["numerator"], columns["denominator"], strict=True
                    )
                ],
                dtype="float64",
            ),
            "hidden": pd.array(marks, dtype=object),
        }
    )[FIGURE_COLUMNS]


def _parts(
    subs: pd.DataFrame, files: pd.DataFrame, per_return: pd.DataFrame
) -> dict[bool, dict[str, tuple[list[str], list[float], list[float | None]]]]:
    """By `per_file`, then by indicator: (ОО, numerators, denominators) of what its municipal figure sums, in
    the order of `subs` (or of `files`, for a `per_file` one)."""
    contributions = per_return[["indicator", "sha256", "numerator", "denominator"]].drop_duplicates(
        ["indicator", "sha256"],
        keep="last",  # a return recomputed by this run: its new figures
    )
    parts: dict[bool, dict] = {}
    for per_file, inputs in ((False, subs), (True, files)):
        codes = [i.code for i in INDICATORS if i.per_file is per_file]
        pairs = pd.DataFrame(
            {"school_id": inputs["school_id"].to_numpy(), "sha256": inputs["sha256"].to_numpy()}
        ).assign(order=range(len(inputs)))
        merged = pairs.merge(contributions[contributions["indicator"].isin(codes)], on="sha256")
        merged = merged.sort_values(["indicator", "order"], kind="stable")
        bounds = merged["indicator"].ne(merged["indicator"].shift()).to_numpy().nonzero()[0].tolist()
        schools, nums = merged["school_id"].tolist(), merged["numerator"].tolist()
        dens = [None if d != d else d for d in merged["denominator"].tolist()]
        codes_at = merged["indicator"].tolist()
        parts[per_file] = {
            codes_at[start]: (schools[start:end], nums[start:end], dens[start:end])
            for start, end in zip(bounds, [*bounds[1:], len(merged)][: len(bounds)], strict=True)
        }
    return parts


def _texts(
    municipality: str, subs: pd.DataFrame, files: pd.DataFrame, by_key: dict
) -> dict[tuple[str, str], str]:
    """(indicator, ОО or municipality) -> where its figure came from, in words."""
    schools = list(zip(subs["school_id"], subs["sha256"], strict=True))
    texts = {}
    for ind in INDICATORS:
        if ind.school_level:
            texts |= {(ind.code, school): _limited(by_key[(ind.code, sha)]) for school, sha in schools}
        inputs = _summed(ind, subs, files)["sha256"]
        texts[(ind.code, municipality)] = _limited_join(by_key[(ind.code, sha)] for sha in inputs)
    return texts


def _limited_join(texts: Iterable[str], separator: str = "; ") -> str:
    """`_limited(separator.join(texts))`, joining no more than the limit keeps: a municipality's figure cites
    every return, some hundred kilobytes of words for a thousand ОО."""
    taken, length = [], -len(separator)
    for text in texts:
        taken.append(text)
        length += len(separator) + len(text)
        if length > TEXT_LIMIT:
            break
    return _limited(separator.join(taken))


def _source_texts(per_return: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(indicator, sha256) -> the sources' text of each return's stored figures."""
    return dict(
        zip(
            zip(per_return["indicator"], per_return["sha256"], strict=True),
            per_return["sources_text"],
            strict=True,
        )
    )


def stored_run(con, run_id: str) -> Computed:
    """A stored run as it was computed: its snapshot, its figures as stored, and where each came from."""
    municipality, period, shas = queries.run_inputs(con, run_id)
    subs, files = queries.current_returns(con, shas), queries.files_of(con, shas)
    figures = queries.run_figure_frame(con, run_id)[FIGURE_COLUMNS]
    texts = _texts(municipality, subs, files, _source_texts(queries.return_texts(con, period, shas)))
    return Computed(run_id, municipality, period, shas, figures, subs, files, texts=texts)


@rare_collections()
def store(
    con, ref: Reference, run: Computed, journal: Path | None = None, as_of: datetime | None = None
) -> None:
    """Replace this run's figures and lineage in one transaction (idempotent); journal the run's inputs. The run
    is dated by what it saw (`as_of`, default: its newest return or the partition's newest staff decision, so a
    return for correction makes a newer run); a rebuild or re-issue passes the journaled date."""
    run_id, figures, municipality, period = run.run_id, run.figures, run.municipality, run.period
    latest = as_of or queries.data_as_of(con, municipality, period, run.snapshot)
    school = figures["level"].eq(Level.SCHOOL.value).to_numpy()
    sha_of = dict(zip(run.subs["school_id"], run.subs["sha256"], strict=True))
    summed = {ind.per_file: list(_summed(ind, run.subs, run.files)["sha256"]) for ind in INDICATORS}
    ids, shas = figures["figure_id"][school].tolist(), figures["entity"][school].map(sha_of).tolist()
    for fid, code in zip(figures["figure_id"][~school], figures["indicator"][~school], strict=True):
        inputs_of = summed[BY_CODE[code].per_file]
        ids += [fid] * len(inputs_of)
        shas += inputs_of
    inputs = pd.DataFrame({"figure_id": ids, "sha256": shas}, columns=["figure_id", "sha256"])
    figure_rows = figures.assign(run_id=run_id)
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
