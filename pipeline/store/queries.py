"""Named reads of the warehouse: which returns a run sees, their facts and column letters, pending files, the
previous period's registries (for history checks and carrying forward), and a content hash for rebuild checks.
Reads only; writes are in `loads` and `pipeline.publish.compute`.
"""

from __future__ import annotations

import hashlib
import json
from typing import NamedTuple

import duckdb
import pandas as pd

from contracts.catalogue import load_catalogue
from pipeline.domain.vocabulary import ACCEPTED_VERDICTS, CHECKED_VERDICTS, Level, Severity, Verdict, sql_list
from pipeline.store.warehouse import fact_table

CHECKED, ACCEPTED = sql_list(CHECKED_VERDICTS), sql_list(ACCEPTED_VERDICTS)
HISTORY_SHEETS = ("mentors", "mentees", "programmes", "pairs")
# what a new template carries forward from the last accepted return: sheet -> (comparison, status name)
CARRIED = {
    "mentors": ("<>", "mentor_left"),
    "mentees": ("<>", "mentee_left"),
    "programmes": ("<>", "programme_finished"),
    "pairs": ("=", "pair_active"),
}


def pending(con: duckdb.DuckDBPyConnection, municipality: str, period: str) -> pd.DataFrame:
    """Received files of a partition waiting to be checked, in arrival order, with the approval that holds them."""
    return con.execute(
        "SELECT r.*, s.received_at AS received, s.school_id, a.sha256 AS locked_by FROM submission s "
        "JOIN received_file r USING (sha256) LEFT JOIN approval a ON a.school_id = s.school_id AND a.period = s.period "
        "WHERE s.verdict = ? AND s.municipality = ? AND s.period = ? ORDER BY s.received_at, r.sha256",
        [Verdict.PENDING.value, municipality, period],
    ).df()


def snapshot(con: duckdb.DuckDBPyConnection, municipality: str, period: str) -> list[str]:
    """Every checked return of the partition now: the inputs a run is computed from (and re-issued from). A school's
    versions up to one returned for correction are left out: a returned report is not counted until a newer
    version is accepted."""
    return [
        r[0]
        for r in con.execute(
            f"SELECT sha256 FROM submission s WHERE municipality = ? AND period = ? AND verdict IN {CHECKED} "
            "AND NOT EXISTS (SELECT 1 FROM returned r JOIN submission rv ON rv.sha256 = r.sha256 "
            "WHERE rv.school_id = s.school_id AND rv.period = s.period AND s.version <= rv.version) ORDER BY sha256",
            [municipality, period],
        ).fetchall()
    ]


def returned_schools(
    con: duckdb.DuckDBPyConnection, municipality: str, period: str, shas: list[str]
) -> list[str]:
    """Schools whose return was returned for correction and that have no version among `shas` (a run's snapshot)."""
    return [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT r.school_id FROM returned r JOIN school sc ON sc.id = r.school_id "
            "WHERE sc.municipality = ? AND r.period = ? AND r.school_id NOT IN "
            "(SELECT school_id FROM submission WHERE list_contains(?, sha256)) ORDER BY 1",
            [municipality, period, shas],
        ).fetchall()
    ]


def data_as_of(con: duckdb.DuckDBPyConnection, municipality: str, period: str, shas: list[str]):
    """What a run of these returns knows about: the newest of them, or the partition's newest staff decision."""
    return con.execute(
        "SELECT greatest((SELECT max(received_at) FROM submission WHERE list_contains(?, sha256)), "
        "(SELECT max(d.made_at) FROM staff_decision d JOIN school sc ON sc.id = d.school_id "
        "WHERE sc.municipality = ? AND d.period = ?))",
        [shas, municipality, period],
    ).fetchone()[0]


def partition_stamps(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], tuple]:
    """(municipality, period) -> a stamp of what the warehouse records for it (versions and their verdicts, returns
    for correction, approvals, runs): it changes whenever a run changes what the partition shows."""
    rows = con.execute(
        "WITH parts AS ("
        "  SELECT municipality, period, hash(sha256 || verdict) AS h FROM submission WHERE municipality IS NOT NULL"
        "  UNION ALL SELECT sc.municipality, r.period, hash(r.sha256 || 'returned') FROM returned r "
        "    JOIN school sc ON sc.id = r.school_id"
        "  UNION ALL SELECT sc.municipality, a.period, hash(a.sha256 || 'approved') FROM approval a "
        "    JOIN school sc ON sc.id = a.school_id"
        "  UNION ALL SELECT municipality, period, hash(run_id) FROM run) "
        "SELECT municipality, period, count(*), sum(h) FROM parts GROUP BY ALL"
    ).fetchall()
    return {(m, p): (n, int(h)) for m, p, n, h in rows}


def answers_of(con: duckdb.DuckDBPyConnection, period: str, schools: list[str]) -> list[tuple[str, object]]:
    """(JSON payload, when written to the outbox) of the answers about the schools' checked files for the period,
    oldest first."""
    return con.execute(
        "SELECT payload, written_at FROM answer WHERE period = ? AND list_contains(?, school_id) "
        "AND kind = 'receipt' ORDER BY due_at",
        [period, schools],
    ).fetchall()


def verdicts_of(con: duckdb.DuckDBPyConnection, shas: list[str]) -> dict[str, str]:
    """sha256 -> the verdict the warehouse recorded for each of these files."""
    return dict(
        con.execute(
            "SELECT sha256, verdict FROM submission WHERE list_contains(?, sha256)", [shas]
        ).fetchall()
    )


def return_figures(con: duckdb.DuckDBPyConnection, period: str, shas: list[str]) -> pd.DataFrame:
    """The figures computed for each of these returns (once per return and indicator)."""
    return con.execute(
        "SELECT indicator, period, sha256, school_id, numerator, denominator FROM return_figure "
        "WHERE period = ? AND list_contains(?, sha256)",
        [period, shas],
    ).df()


def return_texts(con: duckdb.DuckDBPyConnection, period: str, shas: list[str]) -> pd.DataFrame:
    """Where each of these returns' figures came from, in words (indicator, sha256, sources_text)."""
    return con.execute(
        "SELECT indicator, sha256, sources_text FROM return_figure WHERE period = ? AND list_contains(?, sha256)",
        [period, shas],
    ).df()


def run_inputs(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[str, str, list[str]]:
    """(municipality, period, the snapshot of returns) a stored run was computed from."""
    municipality, period, snapshot = con.execute(
        "SELECT municipality, period, submissions FROM run WHERE run_id = ?", [run_id]
    ).fetchone()
    return municipality, period, json.loads(snapshot)


def run_figures(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple]:
    """(indicator, level, entity, period, numerator, denominator, hidden, figure_id) of each figure of a stored
    run."""
    return con.execute(
        "SELECT indicator, level, entity, period, numerator, denominator, hidden, figure_id FROM figure "
        "WHERE run_id = ?",
        [run_id],
    ).fetchall()


def run_figure_frame(con: duckdb.DuckDBPyConnection, run_id: str) -> pd.DataFrame:
    """The figures of a stored run, one row each (as `publish.compute.FIGURE_COLUMNS`)."""
    return con.execute(
        "SELECT figure_id, indicator, level, entity, period, numerator, denominator, value, hidden FROM figure "
        "WHERE run_id = ?",
        [run_id],
    ).df()


class RunRow(NamedTuple):
    run_id: str
    source_file: str | None  # a summary sent up (its sha256), or None: computed here
    created_at: object


def published_run_of(con: duckdb.DuckDBPyConnection, municipality: str, period: str) -> RunRow | None:
    """The run published for a municipality and period (view `published_run`), if any."""
    row = con.execute(
        "SELECT run_id, source_file, created_at FROM published_run WHERE municipality = ? AND period = ?",
        [municipality, period],
    ).fetchone()
    return RunRow(*row) if row else None


def run_of(con: duckdb.DuckDBPyConnection, run_id: str | None) -> RunRow | None:
    row = con.execute("SELECT run_id, source_file, created_at FROM run WHERE run_id = ?", [run_id]).fetchone()
    return RunRow(*row) if row else None


def municipal_figures_of(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple]:
    """(indicator, numerator, denominator, figure id, hidden) of a run's municipal figures."""
    return con.execute(
        "SELECT indicator, numerator, denominator, figure_id, hidden FROM figure WHERE run_id = ? AND level = ?",
        [run_id, Level.MUNICIPALITY.value],
    ).fetchall()


def accepted_and_late(con: duckdb.DuckDBPyConnection, municipality: str, period: str) -> tuple[int, int]:
    """How many ОО's returns count for the period (`current_submission`), and how many of them came late."""
    return con.execute(
        "SELECT count(*), count(*) FILTER (WHERE NOT on_time) FROM current_submission "
        "WHERE municipality = ? AND period = ?",
        [municipality, period],
    ).fetchone()


def submissions_of(con: duckdb.DuckDBPyConnection, shas: list[str]) -> pd.DataFrame:
    """These received files' submission rows, by school and version."""
    return con.execute(
        "SELECT * FROM submission WHERE list_contains(?, sha256) ORDER BY school_id, version", [shas]
    ).df()


def submission_of(con: duckdb.DuckDBPyConnection, sha256: str) -> tuple | None:
    """(school, period, version, verdict, superseded by) of one received file."""
    return con.execute(
        "SELECT school_id, period, version, verdict, superseded_by FROM submission WHERE sha256 = ?", [sha256]
    ).fetchone()


def issues_by_version(con: duckdb.DuckDBPyConnection, shas: list[str]) -> pd.DataFrame:
    """Every issue of these returns with its school and version, and `newest` = 1 on each school's newest."""
    return con.execute(
        "SELECT i.rule, i.severity, i.sheet, i.cell, s.school_id, "
        "row_number() OVER (PARTITION BY s.school_id ORDER BY s.version DESC) AS newest, s.version "
        "FROM submission s LEFT JOIN issue i USING (sha256) WHERE list_contains(?, s.sha256)",
        [shas],
    ).df()


def figure_values(con: duckdb.DuckDBPyConnection, figure_id: str) -> tuple | None:
    """(value, numerator, denominator, hidden) of a figure."""
    return con.execute(
        "SELECT value, numerator, denominator, hidden FROM figure WHERE figure_id = ?", [figure_id]
    ).fetchone()


def figure_sources(con: duckdb.DuckDBPyConnection, figure_id: str) -> list[tuple]:
    """(part, sha256, school, sheet, cell, value read, version) of every school cell behind a figure."""
    return con.execute(
        "SELECT fs.part, fs.sha256, fs.school_id, fs.sheet, fs.cell, fs.value, s.version FROM figure_source fs "
        "LEFT JOIN submission s USING (sha256) WHERE fs.figure_id = ? ORDER BY fs.school_id, fs.part, fs.sheet, fs.cell",
        [figure_id],
    ).fetchall()


def schools_hidden_under(con: duckdb.DuckDBPyConnection, figure_id: str) -> set[str]:
    """The ОО whose own figure of the indicator is hidden in the run of the figure or of one of its parts, and
    every ОО under a hidden part."""
    return {
        school
        for (school,) in con.execute(
            "WITH parts AS (SELECT figure_id, run_id, indicator, hidden FROM figure WHERE figure_id = $id "
            "  UNION ALL SELECT f.figure_id, f.run_id, f.indicator, f.hidden FROM figure_part p "
            "  JOIN figure f ON f.figure_id = p.part_id WHERE p.figure_id = $id) "
            "SELECT DISTINCT s.entity FROM parts JOIN figure s ON s.run_id = parts.run_id AND s.indicator = parts.indicator "
            "WHERE s.level = $school AND (s.hidden IS NOT NULL OR parts.hidden IS NOT NULL)",
            {"id": figure_id, "school": Level.SCHOOL.value},
        ).fetchall()
    }


def published_figures_fed_by(
    con: duckdb.DuckDBPyConnection, sha256: str, sheet: str, cell: str
) -> list[tuple]:
    """(figure id, indicator, level, entity, shown value, part, hidden?) of every published figure (municipal or
    regional) one school cell feeds, ОО first."""
    return con.execute(
        "SELECT DISTINCT f.figure_id, f.indicator, f.level, f.entity, coalesce(f.hidden, f.value::VARCHAR), fs.part, "
        "f.hidden IS NOT NULL FROM figure_source fs "
        "JOIN figure f USING (figure_id) WHERE fs.sha256 = ? AND fs.sheet = ? AND fs.cell = ? "
        "AND f.run_id IN (SELECT run_id FROM published_run UNION ALL SELECT run_id FROM published_regional_run) "
        "ORDER BY CASE f.level WHEN 'school' THEN 0 WHEN 'municipality' THEN 1 ELSE 2 END, f.indicator",
        [sha256, sheet, cell],
    ).fetchall()


def fact_counts(con: duckdb.DuckDBPyConnection, shas: list[str]) -> pd.DataFrame:
    """Rows per (sha256, sheet) in the fact tables."""
    parts = [
        f"SELECT sha256, '{s.code}' AS sheet, count(*) AS n FROM {fact_table(s.code)} "
        "WHERE list_contains($shas, sha256) GROUP BY sha256"
        for s in load_catalogue().sheets
    ]
    return con.execute(" UNION ALL ".join(parts), {"shas": shas}).df()


def current_with_files(con: duckdb.DuckDBPyConnection, municipality: str, period: str) -> pd.DataFrame:
    """Each ОО's current return of the partition with the rows it was loaded with and its archived file, newest
    first."""
    return con.execute(
        "SELECT s.sha256, s.school_id, s.rows_loaded, r.archive_path FROM current_submission s JOIN received_file r "
        "USING (sha256) WHERE s.municipality = ? AND s.period = ? ORDER BY s.received_at DESC, s.sha256",
        [municipality, period],
    ).df()


def rows_dropped_without_consent(con: duckdb.DuckDBPyConnection, shas: list[str]) -> list[tuple]:
    """(sha256, sheet, rows) the load left out for lack of consent (rule C12)."""
    return con.execute(
        "SELECT sha256, sheet, count(*) FROM issue WHERE rule = 'C12' AND list_contains(?, sha256) GROUP BY ALL",
        [shas],
    ).fetchall()


def first_received(con: duckdb.DuckDBPyConnection, shas: list[str]) -> dict[str, object]:
    """sha256 -> when these bytes were first received, for those received before."""
    return dict(
        con.execute(
            "SELECT sha256, received_at FROM received_file WHERE list_contains(?, sha256)", [shas]
        ).fetchall()
    )


def files_received(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT count(*) FROM received_file").fetchone()[0]


def latest_periods(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """municipality -> the latest period (by its end) it has a run of, computed here or sent up."""
    return dict(
        con.execute(
            "SELECT r.municipality, arg_max(r.period, p.end_date) FROM run r "
            "JOIN period p ON p.municipality = r.municipality AND p.code = r.period GROUP BY 1"
        ).fetchall()
    )


def computed_here(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    """Whether the run was computed in this warehouse (not sent up as a summary)."""
    return (
        con.execute("SELECT 1 FROM run WHERE run_id = ? AND source_file IS NULL", [run_id]).fetchone()
        is not None
    )


def published_runs(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """municipality -> the run ids published for it (every period), joined: what its regional summary is made of."""
    return dict(
        con.execute(
            "SELECT municipality, string_agg(run_id, ',' ORDER BY period) FROM published_run GROUP BY 1"
        ).fetchall()
    )


def decision_applied(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return decision_outcome(con, name) is not None


def decision_outcome(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """What an applied staff decision did, in words (None: not applied)."""
    row = con.execute("SELECT outcome FROM staff_decision WHERE name = ?", [name]).fetchone()
    return row[0] if row else None


def current_returns(con: duckdb.DuckDBPyConnection, shas: list[str]) -> pd.DataFrame:
    """Of a snapshot, each school's newest accepted return (ordered by school)."""
    return con.execute(
        f"SELECT * FROM submission WHERE list_contains(?, sha256) AND verdict IN {ACCEPTED} "
        "QUALIFY row_number() OVER (PARTITION BY school_id ORDER BY version DESC) = 1 ORDER BY school_id",
        [shas],
    ).df()


def facts_of(
    con: duckdb.DuckDBPyConnection, shas: list[str], sheets: list[str] | None = None
) -> dict[str, pd.DataFrame]:
    """sheet -> the facts of these returns, with each row's school, ordered by school and source row."""
    return {
        code: con.execute(
            f"SELECT f.*, s.school_id FROM {fact_table(code)} f JOIN submission s USING (sha256) "
            "WHERE list_contains(?, f.sha256) ORDER BY s.school_id, f.sha256, f.src_row",
            [shas],
        ).df()
        for code in sheets or [sheet.code for sheet in load_catalogue().sheets]
    }


def intake_of(con: duckdb.DuckDBPyConnection, shas: list[str]) -> pd.DataFrame:
    """The intake journal of these returns: for each, every version of its ОО's return for the period up to and
    including it (sha256 is the return's, src_row the version), whether it is the return itself, whether that
    arrived on time, and how many errors each version had."""
    return con.execute(
        "SELECT r.sha256, r.school_id, v.version AS src_row, v.version, v.sha256 = r.sha256 AS current, r.on_time, "
        "v.errors FROM submission r JOIN submission v ON v.school_id = r.school_id AND v.period = r.period "
        "AND v.version <= r.version WHERE list_contains(?, r.sha256) ORDER BY r.school_id, v.version",
        [shas],
    ).df()


def files_of(con: duckdb.DuckDBPyConnection, shas: list[str]) -> pd.DataFrame:
    """Of a snapshot, every received file of a return (accepted or not), ordered by school and version."""
    return con.execute(
        "SELECT sha256, school_id, version FROM submission WHERE list_contains(?, sha256) "
        "ORDER BY school_id, version",
        [shas],
    ).df()


def files_journal(con: duckdb.DuckDBPyConnection, shas: list[str]) -> pd.DataFrame:
    """The intake journal's line of each of these files, as its own return: sha256 and src_row (its version),
    and how many errors it had."""
    return con.execute(
        "SELECT sha256, school_id, version AS src_row, version, errors FROM submission "
        "WHERE list_contains(?, sha256) ORDER BY school_id, version",
        [shas],
    ).df()


def letters_of(con: duckdb.DuckDBPyConnection, shas: list[str]) -> pd.DataFrame:
    """The column letter of every (sheet, code) in each of these returns."""
    return con.execute("SELECT * FROM src_column WHERE list_contains(?, sha256)", [shas]).df()


def fact_rows(con: duckdb.DuckDBPyConnection, municipality: str, period: str) -> int:
    """Fact rows stored for all returns of a municipality and period."""
    return sum(
        con.execute(
            f"SELECT count(*) FROM {fact_table(s.code)} f JOIN submission s USING (sha256) "
            "WHERE s.municipality = ? AND s.period = ?",
            [municipality, period],
        ).fetchone()[0]
        for s in load_catalogue().sheets
    )


def previous_returns(con: duckdb.DuckDBPyConnection, school_ids: list[str], before_end) -> dict[str, str]:
    """school -> sha256 of its current accepted return for the latest period ending before `before_end`."""
    return dict(
        con.execute(
            "SELECT s.school_id, s.sha256 FROM current_submission s JOIN period p ON p.municipality = s.municipality "
            "AND p.code = s.period WHERE list_contains(?, s.school_id) AND p.end_date < ? "
            "QUALIFY row_number() OVER (PARTITION BY s.school_id ORDER BY p.end_date DESC) = 1",
            [school_ids, before_end],
        ).fetchall()
    )


def previous_return(con: duckdb.DuckDBPyConnection, school_id: str, before_end) -> str | None:
    return previous_returns(con, [school_id], before_end).get(school_id)


def previous_facts(
    con: duckdb.DuckDBPyConnection, school_ids: list[str], before_end
) -> dict[str, dict[str, pd.DataFrame]]:
    """school -> registries of its newest accepted return for an earlier period (for X15 and P01)."""
    shas = previous_returns(con, school_ids, before_end)
    out: dict[str, dict[str, pd.DataFrame]] = {school: {} for school in shas}
    school_of = {sha: school for school, sha in shas.items()}
    for code in HISTORY_SHEETS if shas else ():
        frame = con.execute(
            f"SELECT * FROM {fact_table(code)} WHERE list_contains(?, sha256) ORDER BY sha256, src_row",
            [list(school_of)],
        ).df()
        parts = dict(tuple(frame.groupby("sha256", sort=False)))
        for sha, school in school_of.items():
            part = parts.get(sha, frame.iloc[0:0])
            out[school][code] = part.drop(columns=["sha256", "src_row"]).reset_index(drop=True)
    return out


def carried_forward(con: duckdb.DuckDBPyConnection, school_id: str, before_end) -> dict[str, list[dict]]:
    """Registries to prefill a new template with: the school's last accepted return before this period."""
    sha = previous_return(con, school_id, before_end)
    if sha is None:
        return {}
    out = {}
    for code, (op, status) in CARRIED.items():
        frame = con.execute(
            f"SELECT * EXCLUDE (sha256, src_row) FROM {fact_table(code)} WHERE sha256 = ? "
            f"AND status {op} ? ORDER BY src_row",
            [sha, load_catalogue().status(status)],
        ).df()
        out[code] = [{k: v for k, v in rec.items() if not _missing(v)} for rec in frame.to_dict("records")]
    return out


def _missing(value) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


# when an answer fell due and was written, when a regional workbook was published, in which order runs were
# stored: bookkeeping, not content
TIME_COLUMNS = {
    "answer": "EXCLUDE (due_at, written_at)",
    "regional_run": "EXCLUDE (created_at)",
    "run": "EXCLUDE (stored)",  # the order runs were stored in, which a killed run or a rebuild moves on
    "staff_decision": "EXCLUDE (applied_at)",
}


def content_hash(con: duckdb.DuckDBPyConnection) -> str:
    """A hash of the warehouse's content (all tables, order-independent), for rebuild and replay checks."""
    digest = hashlib.sha256()
    tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' ORDER BY table_name"
        ).fetchall()
    ]
    for table in tables:
        rows = con.execute(f"SELECT * {TIME_COLUMNS.get(table, '')} FROM {table}").fetchall()
        digest.update(table.encode())
        for line in sorted(repr(r) for r in rows):
            digest.update(line.encode())
    return digest.hexdigest()


def comparable_figures(
    con: duckdb.DuckDBPyConnection, municipality: str, period: str, as_of
) -> dict[str, tuple]:
    """The municipal figures of a period as a summary of data up to `as_of` saw them: of that period's runs
    computed here from data no newer, the one `published_run` would pick. indicator -> (figure id, value,
    numerator, denominator, run id, the mark it is hidden under or None). Later runs never change what a
    re-issued summary shows."""
    rows = con.execute(
        "WITH chosen AS (SELECT run_id FROM run WHERE municipality = ? AND period = ? AND source_file IS NULL "
        "AND created_at <= ? ORDER BY created_at DESC, json_array_length(submissions) DESC, run_id LIMIT 1) "
        "SELECT f.indicator, f.figure_id, f.value, f.numerator, f.denominator, f.run_id, f.hidden "
        "FROM figure f JOIN chosen USING (run_id) "
        "WHERE f.level = 'municipality'",
        [municipality, period, as_of],
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def totals_and_parts(con: duckdb.DuckDBPyConnection, run_id: str, per_file: list[str]) -> pd.DataFrame:
    """For each indicator of a municipal run: the municipal numerator and denominator (m_num, m_den) beside the
    sum and largest of its parts' numerators (s_num, s_max) and the sum of their denominators (s_den). The parts
    are the ОО figures, or, for `per_file` indicators, every received file's contribution."""
    return con.execute(
        "WITH parts AS (SELECT indicator, numerator, denominator FROM figure WHERE run_id = $run AND level = $school "
        "  UNION ALL SELECT f.indicator, rf.numerator, rf.denominator FROM figure f JOIN figure_input fi USING (figure_id) "
        "  JOIN return_figure rf ON rf.sha256 = fi.sha256 AND rf.indicator = f.indicator AND rf.period = f.period "
        "  WHERE f.run_id = $run AND f.level = $municipality AND list_contains($per_file, f.indicator)) "
        "SELECT m.indicator, sum(p.numerator) AS s_num, max(p.numerator) AS s_max, m.numerator AS m_num, "
        "coalesce(sum(p.denominator), 0) AS s_den, coalesce(m.denominator, 0) AS m_den "
        "FROM figure m LEFT JOIN parts p USING (indicator) WHERE m.run_id = $run AND m.level = $municipality "
        "GROUP BY m.indicator, m.numerator, m.denominator",
        {
            "school": Level.SCHOOL.value,
            "municipality": Level.MUNICIPALITY.value,
            "run": run_id,
            "per_file": per_file,
        },
    ).df()


def published_run(con: duckdb.DuckDBPyConnection, municipality: str, period: str) -> str | None:
    """The run whose figures are published for a municipality and period (view `published_run`)."""
    row = con.execute(
        "SELECT run_id FROM published_run WHERE municipality = ? AND period = ?", [municipality, period]
    ).fetchone()
    return row[0] if row else None


def due_answers(con: duckdb.DuckDBPyConnection, shas: list[str] | None = None) -> list[str]:
    """Payloads of answers recorded but not yet written (of these files, or of all), in the order they fell due."""
    where = "AND list_contains(?, sha256)" if shas is not None else ""
    return [
        r[0]
        for r in con.execute(
            f"SELECT payload FROM answer WHERE written_at IS NULL {where} ORDER BY due_at, sha256",
            [shas] if shas is not None else [],
        ).fetchall()
    ]


def unidentified_pending(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Registered files that claim no known return and were never checked (their check was interrupted)."""
    return con.execute(
        "SELECT r.*, s.received_at AS received FROM submission s JOIN received_file r USING (sha256) "
        "WHERE s.verdict = ? AND s.municipality IS NULL ORDER BY s.received_at, r.sha256",
        [Verdict.PENDING.value],
    ).df()


def school_states(con: duckdb.DuckDBPyConnection, municipality: str, period: str) -> pd.DataFrame:
    """Every ОО of the registry with its latest return for the period (verdict None: nothing handed in), the first
    error of that return (why it was not accepted), whether an earlier version stands accepted, and, for a
    version returned for correction, why (`returned`), and whether it is approved."""
    return con.execute(
        "SELECT sc.id AS school_id, sc.name, s.sha256, s.verdict, s.version, s.received_at, s.on_time, s.errors, "
        "s.warnings, (SELECT min_by(message, coalesce(src_row, 0)) FROM issue i WHERE i.sha256 = s.sha256 AND i.severity = $error) "
        "AS reason, cs.sha256 IS NOT NULL AS has_accepted, rt.reason AS returned, ap.sha256 IS NOT NULL AS approved "
        "FROM school sc "
        "LEFT JOIN (SELECT * FROM submission WHERE municipality = $m AND period = $p QUALIFY row_number() OVER "
        "(PARTITION BY school_id ORDER BY received_at DESC, sha256) = 1) s ON s.school_id = sc.id "
        "LEFT JOIN current_submission cs ON cs.school_id = sc.id AND cs.period = $p "
        "LEFT JOIN returned rt ON rt.sha256 = s.sha256 "
        "LEFT JOIN approval ap ON ap.school_id = sc.id AND ap.period = $p "
        "WHERE sc.municipality = $m ORDER BY sc.id",
        {"m": municipality, "p": period, "error": Severity.ERROR.value},
    ).df()


def unidentified(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every received file that is no known return, newest first."""
    return con.execute(
        "SELECT r.original_name AS name, r.received_at, s.sha256 FROM submission s JOIN received_file r "
        "USING (sha256) WHERE s.municipality IS NULL ORDER BY r.received_at DESC, s.sha256"
    ).df()


def published_indicators(
    con: duckdb.DuckDBPyConnection, municipalities: list[str], levels: list[str]
) -> pd.DataFrame:
    """Every published figure of these municipalities at these levels, every period, as the summaries print them
    (a hidden figure has no value, numerator or denominator, only its mark), with the target of a municipal
    figure and whether it is met, and the data time of its run."""
    return con.execute(
        "SELECT ip.figure_id, ip.indicator, ip.level, ip.entity, ip.period, ip.municipality, ip.value, "
        "ip.numerator, ip.denominator, ip.hidden, r.created_at AS data_as_of, td.op, td.target, td.met "
        "FROM indicator_published ip JOIN run r USING (run_id) "
        "LEFT JOIN target_deviation td ON ip.level = 'municipality' AND td.municipality = ip.municipality "
        "  AND td.period = ip.period AND td.indicator = ip.indicator "
        "WHERE list_contains(?, ip.municipality) AND list_contains(?, ip.level) "
        "ORDER BY ip.municipality, ip.period, ip.indicator, ip.entity",
        [municipalities, levels],
    ).df()


def figure_run_municipality(con: duckdb.DuckDBPyConnection, run_id: str) -> str | None:
    """The municipality whose run published a figure (None for a regional run or an unknown one)."""
    row = con.execute("SELECT municipality FROM run WHERE run_id = ?", [run_id]).fetchone()
    return row[0] if row else None
