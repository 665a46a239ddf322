"""The isolated workers that read untrusted files, set up for bulk reading.

Workers are forked once the catalogue, reference data and pandera contracts are loaded, so they share them
instead of each loading its own. While they run, the parsed values of thousands of returns are allocated and
freed: the cyclic collector runs rarely (`pipeline.bulk`), in the parent and in the workers (each full
collection would otherwise scan everything alive, about 1 ms per return).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from contracts.catalogue import load_catalogue
from contracts.schemas import prepare as prepare_contracts
from pipeline.bulk import rare_collections
from pipeline.isolation import PARSE_TIMEOUT_SECONDS, WORKERS, IsolatedPool, check_guards
from pipeline.reference import Issuer, load_reference


def preload(reference_dir: Path | None) -> None:
    """Load what checking needs once (catalogue, the reference data in `reference_dir`, contracts), before workers
    are forked."""
    load_catalogue()
    load_reference(reference_dir)
    prepare_contracts()


@contextmanager
def readers(fn: Callable, tasks: int, issuer: Issuer) -> Iterator[IsolatedPool]:
    """A pool of isolated workers applying `fn`, sized for `tasks` files checked against `issuer`."""
    check_guards()
    preload(issuer.reference_dir)
    with (
        rare_collections(),
        IsolatedPool(fn, workers=min(WORKERS, tasks) or 1, timeout=PARSE_TIMEOUT_SECONDS) as pool,
    ):
        yield pool
