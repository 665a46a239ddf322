"""Writing files so that a reader never sees half of one: every output of svod goes through `atomic_path`.

The bytes are written to `<name>.<pid>.part` beside the target and renamed over it only when complete (with an
fsync first where the caller asks for durability), so a crash or a full disk leaves the previous file intact.
A `.part` left by a writer that died is removed by `remove_stale_parts`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PART_SUFFIX = ".part"


@contextmanager
def atomic_path(path: Path, sync: bool = False) -> Iterator[Path]:
    """A temporary path to write `path`'s new content to; it replaces `path` when the block ends without error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = f"t{threading.get_ident()}.{os.getpid()}"  # two processes, or threads, may write the same target
    tmp = path.with_name(f"{path.name}.{writer}{PART_SUFFIX}")
    try:
        yield tmp
        if sync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: Path, content: bytes | str, sync: bool = False) -> Path:
    """Write bytes, or text as UTF-8, atomically."""
    with atomic_path(path, sync) as tmp:
        tmp.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def atomic_copy(source: Path, path: Path) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(source.read_bytes())
    return path


def remove_stale_parts(folder: Path) -> int:
    """Delete `.part` files under `folder` left by writers that are no longer running; returns how many."""
    removed = 0
    for part in folder.rglob(f"*{PART_SUFFIX}") if folder.exists() else ():
        pid = part.name.rsplit(".", 2)[-2] if part.name.count(".") >= 2 else ""
        if pid.isdigit() and _alive(int(pid)):
            continue
        part.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
