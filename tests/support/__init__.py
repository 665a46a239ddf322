"""Helpers the tests share: checking one file as the pipeline does, and books built from plain records."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pipeline.config import Workspace
from pipeline.intake.examine import Previous, check_file
from pipeline.intake.records import CheckResult


def check_return(path: Path, ws: Workspace, received_at: datetime, original_name: str | None = None,
                 previous_for: Previous | None = None) -> CheckResult:
    """Every check of one file with the workspace's key, as the intake runs them."""
    return check_file(path, ws.key, received_at, original_name, previous_for)
