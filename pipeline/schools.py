"""Issuing templates to schools: which ОО of a municipality get one for a period, and what each is prefilled
with (its registries carried forward from its last accepted return). The layout itself is `pipeline.xlsx.templates`.

A template is CPU work (about 30 ms of xlsxwriter): a municipality's are written by a few forked processes, which
inherit the loaded reference data and layout code, while this process reads what each one carries forward.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from pipeline.forked import spare_core
from pipeline.isolation import end_with_parent
from pipeline.reference import Issuer
from pipeline.store.queries import carried_forward
from pipeline.xlsx.templates import write_template

WRITERS = 2  # forked processes writing a municipality's templates
PARALLEL_FROM = 20  # fewer templates are written here: starting the writers would cost more than it saves


def issue_templates(
    con,
    issuer: Issuer,
    out_dir: Path,
    municipality: str,
    period_code: str,
    schools: list[str] | None = None,
    issued: date | None = None,
    progress=iter,
) -> tuple[list[Path], int]:
    """Templates for the municipality's ОО (or the listed ones), each prefilled with its carried-forward
    registries; returns the paths (in the registry's order) and how many templates carried data forward."""
    m = issuer.reference.municipalities[municipality]
    period = m.period(period_code)
    chosen = [s for s in m.schools if not schools or s.id in schools]
    carried: list[bool] = []

    def jobs() -> Iterator[tuple]:
        """Read as the writers take them: they start on the first while this reads on."""
        for school in chosen:
            previous = carried_forward(con, school.id, period.start) if con is not None else {}
            carried.append(bool(previous))
            yield out_dir, issuer, municipality, period_code, school.id, issued or period.start, previous

    with _writers(len(chosen)) as written:
        results = iter(written(jobs()))
        paths = [next(results) for _ in progress(chosen)]  # the progress shown is of templates written
    return paths, sum(carried)


def _write(job: tuple) -> Path:
    return write_template(*job)


@contextmanager
def _writers(jobs: int) -> Iterator[Callable[[Iterable[tuple]], Iterable[Path]]]:
    """A map of `write_template` over jobs, in order: in forked processes for a municipality's worth, else here."""
    if jobs < PARALLEL_FROM or not spare_core():
        yield lambda todo: map(_write, todo)
        return
    with ProcessPoolExecutor(
        WRITERS,
        mp_context=multiprocessing.get_context("fork"),
        initializer=end_with_parent,
        initargs=(os.getpid(),),
    ) as pool:
        yield lambda todo: pool.map(_write, todo, chunksize=8)
