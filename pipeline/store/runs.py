"""Writing a computed run into the warehouse: the run, its figures and their inputs, and the per-return figures
and source cells computed for it (or a regional run with its figures and their parts), replaced in one
transaction (idempotent). The figures are given as frames;
nothing here computes or words anything."""

from __future__ import annotations

import json

import duckdb
import pandas as pd

from pipeline.store.warehouse import insert_frame, transaction


def replace_run(
    con: duckdb.DuckDBPyConnection,
    run: dict,
    figures: pd.DataFrame,
    inputs: pd.DataFrame,
    new_figures: pd.DataFrame,
    new_sources: pd.DataFrame,
) -> None:
    """`run`: run_id, municipality, period, created_at, catalogue, reference, submissions (a list of sha256)."""
    run_id, period = run["run_id"], run["period"]
    with transaction(con):
        con.execute(
            "DELETE FROM figure_input WHERE figure_id IN (SELECT figure_id FROM figure WHERE run_id = ?)",
            [run_id],
        )
        con.execute("DELETE FROM figure WHERE run_id = ?", [run_id])
        con.execute("DELETE FROM run WHERE run_id = ?", [run_id])
        con.execute(
            "INSERT INTO run VALUES (?, ?, ?, ?, ?, ?, ?, NULL, nextval('run_order'))",
            [
                run_id,
                run["municipality"],
                period,
                run["created_at"],
                run["catalogue"],
                run["reference"],
                json.dumps(run["submissions"]),
            ],
        )
        con.register("fresh", new_figures[["sha256", "indicator"]].drop_duplicates())
        for table in ("return_figure", "return_source"):
            con.execute(
                f"DELETE FROM {table} t USING fresh f "
                "WHERE t.period = ? AND t.sha256 = f.sha256 AND t.indicator = f.indicator",
                [period],
            )
        con.unregister("fresh")
        insert_frame(con, "return_figure", new_figures)
        insert_frame(con, "return_source", new_sources)  # as a frame: Arrow would copy every string first
        insert_frame(con, "figure", figures)
        insert_frame(con, "figure_input", inputs)


def replace_regional_run(
    con: duckdb.DuckDBPyConnection, run: tuple, figures: pd.DataFrame, parts: pd.DataFrame
) -> None:
    """`run`: (run_id, region, label, published_at); its figures and the municipal figures each totals."""
    run_id = run[0]
    with transaction(con):
        con.execute(
            "DELETE FROM figure_part WHERE figure_id IN (SELECT figure_id FROM figure WHERE run_id = ?)",
            [run_id],
        )
        con.execute("DELETE FROM figure WHERE run_id = ?", [run_id])
        con.execute("DELETE FROM regional_run WHERE run_id = ?", [run_id])
        con.execute("INSERT INTO regional_run VALUES (?, ?, ?, ?)", list(run))
        insert_frame(con, "figure", figures)
        insert_frame(con, "figure_part", parts)


def replace_sent_up_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    municipality: str,
    period: str,
    sha256: str,
    figures: pd.DataFrame,
) -> None:
    """A municipal summary sent up (its file's sha256) as a run of its municipal figures."""
    with transaction(con):
        con.execute("DELETE FROM figure WHERE run_id = ?", [run_id])
        con.execute("DELETE FROM run WHERE run_id = ?", [run_id])
        con.execute(
            "INSERT INTO run VALUES (?, ?, ?, NULL, NULL, NULL, '[]', ?, nextval('run_order'))",
            [run_id, municipality, period, sha256],
        )
        insert_frame(con, "figure", figures)
