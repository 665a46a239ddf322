"""What one stage hands the next is what the next uses: the workbook shows the run the checks verified, the load
check can fail, a failed annotated copy is named, and nothing signs without a key."""

from __future__ import annotations

import shutil

import dagster as dg
from typer.testing import CliRunner

from pipeline.assets.partitions import partition_key
from pipeline.cli import app
from pipeline.config import Workspace
from pipeline.intake.upstream import read_sealed
from pipeline.intake.verify import load_mismatches
from pipeline.store import queries

from .conftest import E2E_MUNICIPALITY as MUNI
from .conftest import E2E_PERIOD as PERIOD


def _latest(instance: dg.DagsterInstance, asset: str, partition: str):
    return instance.get_latest_materialization_event(dg.AssetKey(asset)).asset_materialization.metadata


def test_the_workbook_shows_the_run_the_checks_verified(published):
    instance = dg.DagsterInstance.from_config(str(published.home / ".dagster"))
    key = partition_key(MUNI, PERIOD)
    computed = _latest(instance, "indicators", key)["run_id"].value
    rendered = _latest(instance, "municipal_summary", key)["run_id"].value
    checked = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("indicators"), "totals_reconcile")]
    )
    verified = next(iter(checked.values())).event.asset_check_evaluation.metadata["run_id"].value
    seal, _ = read_sealed(published.out / MUNI / f"svod_{MUNI}_{PERIOD}.xlsx", published.issuer)
    with published.connect(read_only=True) as con:
        assert computed == rendered == verified == seal.run_id == queries.published_run(con, MUNI, PERIOD)


def test_the_load_check_finds_a_lost_fact_row(published, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(published.home, home, ignore=shutil.ignore_patterns(".dagster", "out", "outbox"))
    ws = Workspace.resolve(home)
    with ws.connect() as con:
        assert load_mismatches(con, ws.home, MUNI, PERIOD).empty
        con.execute(
            "DELETE FROM fact_mentors WHERE rowid = (SELECT min(rowid) FROM fact_mentors f JOIN "
            "current_submission s USING (sha256))"
        )
        lost = load_mismatches(con, ws.home, MUNI, PERIOD)
    assert len(lost) >= 1 and set(lost["fact_rows"] - lost["expected"]) == {-1}


def test_a_failed_annotated_copy_is_named_on_the_receipt(make_return, ws, monkeypatch, tmp_path):
    from pipeline import feedback
    from pipeline.intake.steps import dry_run

    def refuse(*args):
        raise ValueError("openpyxl refused the file")

    monkeypatch.setattr(feedback, "annotate", refuse)
    result = dry_run(make_return(mistake="enum_typo"), ws, tmp_path)
    receipt = next(p for p in result.feedback if p.name.endswith("квитанция.txt")).read_text(encoding="utf-8")
    assert result.annotation_failure.startswith("ValueError")
    assert "Копия файла с пометками: подготовить не удалось" in receipt
    assert not any(p.name.endswith("проверка.xlsx") for p in result.feedback)


def test_a_command_that_signs_stops_without_a_key(tmp_path, monkeypatch, make_return):
    monkeypatch.delenv("SVOD_SIGNING_KEY", raising=False)
    with Workspace.resolve(tmp_path / "prod").connect():  # an installed workspace, so only the key is missing
        pass
    for args in (
        ["run", "--period", "2025-Q4"],
        ["templates", "--period", "2025-Q4", "--out", str(tmp_path / "t")],
        ["check", str(make_return())],
    ):
        result = CliRunner().invoke(app, [*args, "--home", str(tmp_path / "prod")])
        assert result.exit_code == 2, (args, result.output)
        assert "SVOD_SIGNING_KEY" in " ".join(result.output.split()) and "Traceback" not in result.output
