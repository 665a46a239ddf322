"""The DuckDB warehouse: schema, reference dimensions, submission loading and reads of current facts.

Every write happens inside one transaction, so a failed load leaves the warehouse as it was. DuckDB allows one
writer process; `connect` retries briefly on the lock and then says so in Russian.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain, repeat
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from contracts.catalogue import load_catalogue
from pipeline.parsing import stacked
from pipeline.reference import load_reference

SCHEMA = Path(__file__).resolve().parent.parent / "warehouse" / "schema.sql"
SQL_TYPES = {"int": "BIGINT", "decimal": "DOUBLE", "date": "DATE"}
ARROW_TYPES = {"int": pa.int64(), "decimal": pa.float64(), "date": pa.date32()}
LOCK_WAIT_SECONDS = 30
MEMORY_LIMIT = os.environ.get("SVOD_DUCKDB_MEMORY", "1GB")  # DuckDB's buffer pool; it spills to disk beyond this


class WarehouseBusy(RuntimeError):
    pass


@contextmanager
def connect(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config={"memory_limit": MEMORY_LIMIT})
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise WarehouseBusy(f"Хранилище {path} занято другим процессом svod; повторите позже.") from exc
            time.sleep(0.5)
    try:
        if not read_only:
            ensure_schema(con)
        yield con
    finally:
        con.close()


def fact_table(sheet: str) -> str:
    return f"fact_{sheet}"


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create what is missing and load the bundled reference data if it changed since the last load."""
    _split_lineage(con)
    con.execute(SCHEMA.read_text())
    for sheet in load_catalogue().sheets:
        cols = ", ".join(f'"{c.code}" {SQL_TYPES.get(c.type, "VARCHAR")}' for c in sheet.columns)
        con.execute(f"CREATE TABLE IF NOT EXISTS {fact_table(sheet.code)} (sha256 VARCHAR, src_row INTEGER, {cols})")
    loaded = con.execute("SELECT value FROM svod_meta WHERE key = 'reference'").fetchone()
    if loaded is None or loaded[0] != load_reference().version:
        refresh_reference(con)


def _split_lineage(con: duckdb.DuckDBPyConnection) -> None:
    """Warehouses from before per-return lineage kept a figure_source table: move it into return_source and
    figure_input (the view of the same name replaces it)."""
    kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = 'figure_source'").fetchone()
    if not kind or kind[0] != "BASE TABLE":
        return
    with transaction(con):
        con.execute("ALTER TABLE figure_source RENAME TO figure_source_old")
        con.execute(SCHEMA.read_text())
        con.execute("INSERT INTO return_source SELECT DISTINCT split_part(figure_id, '|', 1), split_part(figure_id, '|', 4), "
                    "sha256, school_id, part, sheet, cell, value FROM figure_source_old WHERE split_part(figure_id, '|', 2) = 'school'")
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


def refresh_reference(con: duckdb.DuckDBPyConnection) -> None:
    """Replace the reference dimensions with the bundled reference data."""
    ref = load_reference()
    tables = {
        "region": pd.DataFrame([{"code": k, "name": v} for k, v in ref.regions.items()]),
        "municipality": pd.DataFrame([{"code": m.code, "name": m.name, "region": m.region} for m in ref.municipalities.values()]),
        "school": pd.DataFrame([{"id": s.id, "municipality": m.code, "name": s.name, "type": s.type}
                                for m in ref.municipalities.values() for s in m.schools]),
        "period": pd.DataFrame([{"municipality": m.code, "code": p.code, "start_date": p.start, "end_date": p.end,
                                 "deadline": p.deadline} for m in ref.municipalities.values() for p in m.periods]),
        "roadmap_item": pd.DataFrame([{"municipality": m.code, "code": i.code, "level": i.level, "deadline_text": i.deadline_text,
                                       "reading": i.reading, "text": i.text, "seed": i.seed}
                                      for m in ref.municipalities.values() for i in m.roadmap]),
        "target": pd.DataFrame([t.model_dump() for t in ref.targets]),
    }
    with transaction(con):
        for name, frame in tables.items():
            con.execute(f"DELETE FROM {name}")
            insert_frame(con, name, frame)
        con.execute("INSERT OR REPLACE INTO svod_meta VALUES ('reference', ?)", [ref.version])


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame | pa.Table) -> None:
    """Append a DataFrame or an Arrow table to `table`, matching columns by name."""
    if not len(frame):
        return
    con.register("incoming", frame)
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
    con.unregister("incoming")


def fact_arrow(sheet, parts: list[tuple[str, object]]) -> pa.Table:
    """One sheet's rows of many returns as an Arrow table for its fact table: (sha256, parsed sheet) pairs."""
    sheets = [s for _, s in parts]
    columns = {"sha256": pa.array(list(chain.from_iterable(repeat(sha, len(s)) for sha, s in parts)), pa.string()),
               "src_row": pa.array(list(chain.from_iterable(s.rows for s in sheets)), pa.int32())}
    for c in sheet.columns:
        columns[c.code] = pa.array(stacked(sheets, c.code), ARROW_TYPES.get(c.type, pa.string()))
    return pa.table(columns)


def letters_arrow(parts: list[tuple[str, dict]]) -> pa.Table:
    """The column letter of every column of every sheet of many returns, for src_column: (sha256, sheets) pairs."""
    shas, sheets, codes, letters = [], [], [], []
    for sha, parsed in parts:
        for code, s in parsed.items():
            shas += repeat(sha, len(s.letters))
            sheets += repeat(code, len(s.letters))
            codes += s.letters.keys()
            letters += s.letters.values()
    return pa.table({"sha256": shas, "sheet": sheets, "code": codes, "letter": letters},
                    schema=pa.schema([(name, pa.string()) for name in ("sha256", "sheet", "code", "letter")]))


CHECKED = "('accepted', 'accepted_with_warnings', 'rejected')"
ACCEPTED = "('accepted', 'accepted_with_warnings')"


def snapshot(con: duckdb.DuckDBPyConnection, municipality: str, period: str) -> list[str]:
    """Every checked return of the partition now: the inputs a run is computed from (and re-issued from)."""
    return [r[0] for r in con.execute(
        f"SELECT sha256 FROM submission WHERE municipality = ? AND period = ? AND verdict IN {CHECKED} ORDER BY sha256",
        [municipality, period]).fetchall()]


def current_returns(con: duckdb.DuckDBPyConnection, shas: list[str]) -> pd.DataFrame:
    """Of a snapshot, each school's newest accepted return (ordered by school)."""
    return con.execute(
        f"SELECT * FROM submission WHERE list_contains(?, sha256) AND verdict IN {ACCEPTED} "
        "QUALIFY row_number() OVER (PARTITION BY school_id ORDER BY version DESC) = 1 ORDER BY school_id", [shas]).df()


def facts_of(con: duckdb.DuckDBPyConnection, shas: list[str], sheets: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """sheet -> the facts of these returns, with each row's school, ordered by school and source row."""
    return {code: con.execute(
        f"SELECT f.*, s.school_id FROM {fact_table(code)} f JOIN submission s USING (sha256) "
        "WHERE list_contains(?, f.sha256) ORDER BY s.school_id, f.sha256, f.src_row", [shas]).df()
        for code in sheets or [sheet.code for sheet in load_catalogue().sheets]}


def letters_of(con: duckdb.DuckDBPyConnection, shas: list[str]) -> pd.DataFrame:
    """The column letter of every (sheet, code) in each of these returns."""
    return con.execute("SELECT * FROM src_column WHERE list_contains(?, sha256)", [shas]).df()


def fact_rows(con: duckdb.DuckDBPyConnection, municipality: str, period: str) -> int:
    """Fact rows stored for all returns of a municipality and period."""
    return sum(con.execute(f"SELECT count(*) FROM {fact_table(s.code)} f JOIN submission s USING (sha256) "
                           "WHERE s.municipality = ? AND s.period = ?", [municipality, period]).fetchone()[0]
               for s in load_catalogue().sheets)


def contract_failures(con: duckdb.DuckDBPyConnection, municipality: str, period: str) -> pd.DataFrame:
    """Re-validate the current returns' facts against the pandera contracts; one row per failing cell."""
    import pandera.pandas as pa

    from contracts.schemas import sheet_schema, typed_frame

    failures = []
    facts = facts_of(con, list(current_returns(con, snapshot(con, municipality, period))["sha256"]))
    for sheet in load_catalogue().sheets:
        frame = facts[sheet.code]
        if frame.empty:
            continue
        typed = typed_frame(sheet.code, {c.code: frame[c.code].astype(object).where(frame[c.code].notna(), None).tolist()
                                         for c in sheet.columns})
        try:
            sheet_schema(sheet.code).validate(typed, lazy=True, inplace=True)
        except pa.errors.SchemaErrors as exc:
            cases = exc.failure_cases
            for case in cases.itertuples():
                row = frame.iloc[int(case.index)] if case.index is not None and not pd.isna(case.index) else None
                failures.append({"sheet": sheet.code, "school_id": None if row is None else row["school_id"],
                                 "src_row": None if row is None else int(row["src_row"]), "column": case.column,
                                 "check": str(case.check), "value": str(case.failure_case)})
    return pd.DataFrame(failures, columns=["sheet", "school_id", "src_row", "column", "check", "value"])


def previous_returns(con: duckdb.DuckDBPyConnection, school_ids: list[str], before_end) -> dict[str, str]:
    """school -> sha256 of its current accepted return for the latest period ending before `before_end`."""
    return dict(con.execute(
        "SELECT s.school_id, s.sha256 FROM current_submission s JOIN period p ON p.municipality = s.municipality "
        "AND p.code = s.period WHERE list_contains(?, s.school_id) AND p.end_date < ? "
        "QUALIFY row_number() OVER (PARTITION BY s.school_id ORDER BY p.end_date DESC) = 1", [school_ids, before_end]).fetchall())


def previous_return(con: duckdb.DuckDBPyConnection, school_id: str, before_end) -> str | None:
    return previous_returns(con, [school_id], before_end).get(school_id)


def previous_facts(con: duckdb.DuckDBPyConnection, school_ids: list[str], before_end) -> dict[str, dict[str, pd.DataFrame]]:
    """school -> registries of its newest accepted return for an earlier period (for X15 and P01)."""
    shas = previous_returns(con, school_ids, before_end)
    out: dict[str, dict[str, pd.DataFrame]] = {school: {} for school in shas}
    school_of = {sha: school for school, sha in shas.items()}
    for code in ("mentors", "mentees", "programmes", "pairs") if shas else ():
        frame = con.execute(f"SELECT * FROM {fact_table(code)} WHERE list_contains(?, sha256) ORDER BY sha256, src_row",
                            [list(school_of)]).df()
        parts = dict(tuple(frame.groupby("sha256", sort=False)))
        for sha, school in school_of.items():
            part = parts.get(sha, frame.iloc[0:0])
            out[school][code] = part.drop(columns=["sha256", "src_row"]).reset_index(drop=True)
    return out


CARRIED = {"mentors": "status <> 'выбыл'", "mentees": "status <> 'выбыл'",
           "programmes": "status <> 'завершена'", "pairs": "status = 'действует'"}


def carried_forward(con: duckdb.DuckDBPyConnection, school_id: str, before_end) -> dict[str, list[dict]]:
    """Registries to prefill a new template with: the school's last accepted return before this period."""
    sha = previous_return(con, school_id, before_end)
    if sha is None:
        return {}
    out = {}
    for code, keep in CARRIED.items():
        frame = con.execute(f"SELECT * EXCLUDE (sha256, src_row) FROM {fact_table(code)} WHERE sha256 = ? AND {keep} "
                            "ORDER BY src_row", [sha]).df()
        out[code] = [{k: v for k, v in rec.items() if not _missing(v)} for rec in frame.to_dict("records")]
    return out


def _missing(value) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def content_hash(con: duckdb.DuckDBPyConnection) -> str:
    """A hash of the warehouse's content (all tables, order-independent), for rebuild and replay checks."""
    import hashlib

    digest = hashlib.sha256()
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' ORDER BY table_name").fetchall()]
    for table in tables:
        rows = con.execute(f"SELECT * FROM {table}").fetchall()
        digest.update(table.encode())
        for line in sorted(repr(r) for r in rows):
            digest.update(line.encode())
    return digest.hexdigest()
