"""LibreOffice for the tests: one headless soffice profile per test process, made by the first conversion and
reused by every later one (a fresh profile costs most of a conversion's start), and the conversion itself."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


@cache
def profile() -> Path:
    """This test process's LibreOffice profile (conversions in one process run one after another)."""
    return Path(tempfile.mkdtemp(prefix="svod-soffice-"))


def convert(path: Path, to: str, out_dir: Path) -> Path:
    """`path` converted by LibreOffice (`to`: "pdf", "ods", "xlsx:Calc MS Excel 2007 XML" …) into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            soffice(),
            "--headless",
            "--norestore",
            f"-env:UserInstallation=file://{profile()}",
            "--convert-to",
            to,
            "--outdir",
            str(out_dir),
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return out_dir / f"{path.stem}.{to.split(':')[0]}"
