"""Which return a file claims to be, read cheaply from its signed identity before the full check: it decides the
partition (municipality × period) a file is registered and consolidated under.

Routing never fails a file: one that claims nothing known is checked and answered as unidentified, and the
full check says what is wrong with it. Why a file claims nothing is logged for the operator.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline.intake.records import NOT_CLAIMED, Claim
from pipeline.intake.workers import readers
from pipeline.reference import Issuer
from pipeline.rules.identity import identify
from pipeline.xlsx.container import precheck
from pipeline.xlsx.reader import read_identity

UNIDENTIFIED = ("", "")  # the partition of files that claim no known return
log = logging.getLogger(__name__)


def claimed_identity(path: Path, issuer: Issuer, data: bytes | None = None) -> Claim:
    """(school, municipality, period) a file's signed identity names, if registry and calendar know them; else
    Nones. `data` is the file's bytes when the caller has already read them."""
    data = path.read_bytes() if data is None else data
    if precheck(data, path.name):
        return NOT_CLAIMED
    try:
        identity = read_identity(path, data)
    except Exception as exc:  # a spreadsheet library refusing a broken file: the full check answers it
        log.info("%s claims no return: %s: %s", path.name, type(exc).__name__, exc)
        return NOT_CLAIMED
    m, period, _ = identify(identity, issuer)
    if m is not None and period is not None:
        return identity["school_id"], m.code, period.code
    return NOT_CLAIMED


def partition_of(claim: Claim) -> tuple[str, str]:
    """The (municipality, period) a claim files under; UNIDENTIFIED for no known return."""
    return (claim[1] or "", claim[2] or "")


def claimed_identities(files: list[Path], issuer: Issuer) -> list[Claim]:
    """`claimed_identity` of each file, read in the isolated workers (a file that kills its reader claims nothing)."""
    if not files:
        return []
    with readers(claimed_identity, len(files), issuer) as pool:
        return [NOT_CLAIMED if o.failure else o.value for o in pool.map([(f, issuer) for f in files])]
