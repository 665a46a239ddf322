"""The DuckDB warehouse itself: connecting (one writer process at a time), migrating its schema, transactions,
and appending frames. What is stored is `warehouse/schema.sql` (views: `warehouse/views.sql`) plus one fact table
per catalogue sheet; named reads are in `queries`, loads of checked returns in `loads`.

Every write happens inside one transaction, so a failed load leaves the warehouse as it was. DuckDB allows one
writer process; `connect` retries briefly on the lock and then says so in Russian.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from contracts.catalogue import load_catalogue
from pipeline.domain.figures import FigureId
from pipeline.domain.indicators import BY_CODE, INDICATORS
from pipeline.domain.suppression import suppress
from pipeline.domain.vocabulary import Level
from pipeline.reference import Reference, load_reference
from warehouse import SCHEMA, VIEWS

SQL_TYPES = {"int": "BIGINT", "decimal": "DOUBLE", "date": "DATE"}
LOCK_WAIT_SECONDS = 30
LOCK_RETRY_SECONDS = 0.1  # a page waiting a second for the warehouse gets in as soon as a run lets go
DEFAULT_MEMORY = "1GB"  # DuckDB's buffer pool; it spills to disk beyond this (SVOD_DUCKDB_MEMORY)


class WarehouseBusy(RuntimeError):
    pass


@contextmanager
def connect(
    path: Path,
    read_only: bool = False,
    memory_limit: str = DEFAULT_MEMORY,
    wait: float | None = None,
    reference: Reference | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the warehouse file, its schema brought up to date (unless read-only) and its reference
    dimensions loaded from `reference` (default: the bundled sample) where they differ. Waits `wait` seconds
    (default LOCK_WAIT_SECONDS) for another svod process that holds the file, then says so in Russian. A
    read-only connection to a warehouse an earlier release wrote migrates it first, through one writing one."""
    deadline = time.monotonic() + (LOCK_WAIT_SECONDS if wait is None else wait)
    con = _open(path, read_only, memory_limit, deadline)
    if read_only and not _up_to_date(con):
        con.close()
        with connect(path, memory_limit=memory_limit, wait=wait, reference=reference):
            pass
        con = _open(path, read_only, memory_limit, deadline)
    try:
        if not read_only:
            ensure_schema(con, reference or load_reference())
        yield con
    finally:
        con.close()


def _open(path: Path, read_only: bool, memory_limit: str, deadline: float) -> duckdb.DuckDBPyConnection:
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config={"memory_limit": memory_limit})
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise WarehouseBusy(
                    f"Хранилище {path} занято другим процессом svod; повторите позже."
                ) from exc
            time.sleep(LOCK_RETRY_SECONDS)


@cache
def schema_version() -> str:
    """A digest of what `ensure_schema` makes: the schema, the views, the catalogue's fact tables and the
    migrations of this module (a warehouse stamped with it needs none of them again)."""
    made = (
        SCHEMA.read_bytes()
        + VIEWS.read_bytes()
        + load_catalogue().fingerprint.encode()
        + Path(__file__).read_bytes()
    )
    return hashlib.sha256(made).hexdigest()[:16]


def _up_to_date(con: duckdb.DuckDBPyConnection) -> bool:
    try:
        row = con.execute("SELECT value FROM svod_meta WHERE key = 'schema'").fetchone()
    except duckdb.CatalogException:  # older than svod_meta itself
        return False
    return row is not None and row[0] == schema_version()


def fact_table(sheet: str) -> str:
    return f"fact_{sheet}"


def ensure_schema(con: duckdb.DuckDBPyConnection, ref: Reference) -> None:
    """Migrate: create what is missing, convert older layouts, and load the reference data if it changed. A
    warehouse already stamped with this `schema_version` is left as it is: re-creating the views on every
    connection would make each one's close write the catalogue again."""
    if not _up_to_date(con):
        _split_lineage(con)
        decided = _has_column(con, "figure", "hidden")
        con.execute(SCHEMA.read_text())
        con.execute(VIEWS.read_text())
        if not decided:
            _decide_hidden(con)
        for sheet in load_catalogue().sheets:
            cols = ", ".join(f'"{c.code}" {SQL_TYPES.get(c.type, "VARCHAR")}' for c in sheet.columns)
            con.execute(
                f"CREATE TABLE IF NOT EXISTS {fact_table(sheet.code)} (sha256 VARCHAR, src_row INTEGER, {cols})"
            )
        con.execute("INSERT OR REPLACE INTO svod_meta VALUES ('schema', ?)", [schema_version()])
    loaded = con.execute("SELECT value FROM svod_meta WHERE key = 'reference'").fetchone()
    if loaded is None or loaded[0] != _reference_version(ref):
        refresh_reference(con, ref)


def _reference_version(ref: Reference) -> str:
    """The reference data's version and a digest of the indicators' declarations (table `indicator`)."""
    kinds = json.dumps(
        [[i.code, i.title, i.unit.value, bool(i.largest), i.revision] for i in INDICATORS], ensure_ascii=False
    )
    return f"{ref.version}/{hashlib.sha256(kinds.encode()).hexdigest()[:12]}"


def _has_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    return (
        con.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = ? AND column_name = ?",
            [table, column],
        ).fetchone()[0]
        > 0
    )


def _decide_hidden(con: duckdb.DuckDBPyConnection) -> None:
    """Warehouses from before figures carried their suppression: decide it for every stored run, as its
    publication would now (a municipal run for the municipality's readers, a regional one for the region's)."""
    stored = con.execute(
        "SELECT f.figure_id, f.run_id, f.indicator, f.level, f.entity, f.period, f.numerator, "
        "f.denominator, r.run_id IS NOT NULL FROM figure f "
        "LEFT JOIN regional_run r USING (run_id)"
    ).fetchall()
    runs: dict[tuple[str, bool], list] = {}
    for fid, run, code, level, entity, period, num, den, regional in stored:
        if code in BY_CODE:
            runs.setdefault((run, regional), []).append(
                (fid, BY_CODE[code].figure(Level(level), entity, period, num or 0.0, den))
            )
    decided = []
    for (_, regional), rows in runs.items():
        figures = suppress([f for _, f in rows], Level.REGION if regional else Level.MUNICIPALITY)
        decided += [(fid, f.hidden) for (fid, _), f in zip(rows, figures, strict=True) if f.hidden]
    if decided:
        with transaction(con):
            con.register("decided", pd.DataFrame(decided, columns=["figure_id", "hidden"]))
            con.execute(
                "UPDATE figure SET hidden = d.hidden FROM decided d WHERE figure.figure_id = d.figure_id"
            )
            con.unregister("decided")


def _split_lineage(con: duckdb.DuckDBPyConnection) -> None:
    """Warehouses from before per-return lineage kept a figure_source table: move it into return_source and
    figure_input (the view of the same name replaces it)."""
    kind = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = 'figure_source'"
    ).fetchone()
    if not kind or kind[0] != "BASE TABLE":
        return
    with transaction(con):
        con.execute("ALTER TABLE figure_source RENAME TO figure_source_old")
        con.execute(SCHEMA.read_text())
        ids = [
            FigureId.parse(f)
            for (f,) in con.execute("SELECT DISTINCT figure_id FROM figure_source_old").fetchall()
        ]
        con.register(
            "ids",
            pd.DataFrame(
                [(f.format(), f.indicator, f.period) for f in ids if f.level is not Level.REGION],
                columns=["figure_id", "indicator", "period"],
            ),
        )
        con.execute(
            "INSERT INTO return_source SELECT DISTINCT i.indicator, i.period, o.sha256, o.school_id, o.part, "
            "o.sheet, o.cell, o.value FROM figure_source_old o JOIN ids i USING (figure_id)"
        )
        con.unregister("ids")
        con.execute("INSERT INTO figure_input SELECT DISTINCT figure_id, sha256 FROM figure_source_old")
        con.execute("DROP TABLE figure_source_old")


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection):
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


@contextmanager
def single_threaded(con: duckdb.DuckDBPyConnection):
    """DuckDB on one thread, while worker processes keep both cores busy (its own threads would only compete)."""
    before = con.execute("SELECT current_setting('threads')").fetchone()[0]
    con.execute("SET threads = 1")
    try:
        yield con
    finally:
        con.execute(f"SET threads = {int(before)}")


def refresh_reference(con: duckdb.DuckDBPyConnection, ref: Reference) -> None:
    """Replace the reference dimensions with `ref`'s."""
    tables = {
        "region": pd.DataFrame([{"code": k, "name": v} for k, v in ref.regions.items()]),
        "municipality": pd.DataFrame(
            [{"code": m.code, "name": m.name, "region": m.region} for m in ref.municipalities.values()]
        ),
        "school": pd.DataFrame(
            [
                {"id": s.id, "municipality": m.code, "name": s.name, "type": s.type}
                for m in ref.municipalities.values()
                for s in m.schools
            ]
        ),
        "period": pd.DataFrame(
            [
                {
                    "municipality": m.code,
                    "code": p.code,
                    "start_date": p.start,
                    "end_date": p.end,
                    "deadline": p.deadline,
                }
                for m in ref.municipalities.values()
                for p in m.periods
            ]
        ),
        "roadmap_item": pd.DataFrame(
            [
                {
                    "municipality": m.code,
                    "code": i.code,
                    "level": i.level,
                    "deadline_text": i.deadline_text,
                    "reading": i.reading,
                    "text": i.text,
                    "seed": i.seed,
                }
                for m in ref.municipalities.values()
                for i in m.roadmap
            ]
        ),
        "target": pd.DataFrame([t.model_dump() for t in ref.targets]),
        "indicator": pd.DataFrame(
            [
                {
                    "code": i.code,
                    "title": i.title,
                    "unit": i.unit.value,
                    "largest": bool(i.largest),
                    "revision": i.revision,
                }
                for i in INDICATORS
            ]
        ),
    }
    stale = [
        code
        for code, revision in con.execute("SELECT code, coalesce(revision, 1) FROM indicator").fetchall()
        if code in BY_CODE and BY_CODE[code].revision != revision
    ]
    with transaction(con):
        for table in ("return_figure", "return_source"):  # what returns contributed to a redefined indicator
            con.execute(f"DELETE FROM {table} WHERE list_contains(?, indicator)", [stale])
        for name, frame in tables.items():
            con.execute(f"DELETE FROM {name}")
            insert_frame(con, name, frame)
        con.execute("INSERT OR REPLACE INTO svod_meta VALUES ('reference', ?)", [_reference_version(ref)])


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame | pa.Table) -> None:
    """Append a DataFrame or an Arrow table to `table`, matching columns by name."""
    if not len(frame):
        return
    con.register("incoming", frame)
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
    con.unregister("incoming")


def arrow_schema(con: duckdb.DuckDBPyConnection, table: str, columns: list[str] | None = None) -> pa.Schema:
    """The Arrow types of a table's columns as the warehouse declares them (schema.sql, or the catalogue for facts)."""
    return (
        con.sql(f"SELECT {', '.join(columns) if columns else '*'} FROM {table} LIMIT 0")
        .to_arrow_table()
        .schema
    )


def arrow_table(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict], columns: list[str]) -> pa.Table:
    """Rows for some of a table's columns as Arrow, typed as the table declares them."""
    schema = arrow_schema(con, table, columns)
    return pa.table(
        {c: pa.array([r[c] for r in rows], type=schema.field(c).type) for c in columns}, schema=schema
    )
