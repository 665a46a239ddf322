"""Benchmark: issuing N school templates (default 1,000), serial and on both cores.

The floor in the same run is a bare xlsxwriter workbook with the same sheets and header rows but no
validation, formatting, prefill or signing. Run: `uv run python bench/bench_templates.py [N]`.
"""

from __future__ import annotations

import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from itertools import cycle, islice
from pathlib import Path

import xlsxwriter

from contracts.catalogue import load_catalogue
from pipeline.config import DEMO_SIGNING_KEY
from pipeline.reference import Issuer, load_reference
from pipeline.xlsx.templates import write_template


def jobs(n: int) -> list[tuple[str, str, str]]:
    ref = load_reference()
    everyone = [
        (m.code, ref.demo_periods[m.code], s.id) for m in ref.municipalities.values() for s in m.schools
    ]
    return list(islice(cycle(everyone), n))


def floor(out: Path, n: int) -> None:
    catalogue = load_catalogue()
    for i in range(n):
        wb = xlsxwriter.Workbook(str(out / f"floor_{i}.xlsx"))
        for sheet in catalogue.sheets:
            ws = wb.add_worksheet(sheet.title)
            for c, col in enumerate(sheet.columns):
                ws.write_string(0, c, col.label)
                ws.write_string(1, c, col.code)
        wb.close()


def one(args) -> int:
    out, (municipality, period, school), k = args
    path = write_template(
        Path(out) / str(k), Issuer(DEMO_SIGNING_KEY), municipality, period, school, date(2025, 9, 1)
    )
    return path.stat().st_size


def main(n: int) -> None:
    work = jobs(n)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        t = time.perf_counter()
        floor(out, n)
        floor_s = time.perf_counter() - t
        t = time.perf_counter()
        sizes = [one((tmp, job, k)) for k, job in enumerate(work)]
        serial_s = time.perf_counter() - t
        t = time.perf_counter()
        with ProcessPoolExecutor(2) as pool:
            list(pool.map(one, [(tmp, job, k + n) for k, job in enumerate(work)], chunksize=25))
        parallel_s = time.perf_counter() - t
    for name, secs in (("templates_serial", serial_s), ("templates_2cores", parallel_s)):
        print(
            f"scenario={name} n={n} wall_s={secs:.2f} per_template_ms={1000 * secs / n:.1f} "
            f"ratio_vs_floor={secs / floor_s:.2f} mean_kb={sum(sizes) / len(sizes) / 1024:.0f}"
        )
    print(f"scenario=templates_floor n={n} wall_s={floor_s:.2f} per_template_ms={1000 * floor_s / n:.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
