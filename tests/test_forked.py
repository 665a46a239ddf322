"""Work handed to a forked child (`pipeline.forked`): its value comes back, and its failure or death is raised
where the value is asked for, never waited on forever."""

from __future__ import annotations

import os
import signal

import pytest

from pipeline.forked import Forked


def test_a_forked_child_sends_back_what_the_parent_held():
    held = {"rows": list(range(100_000))}  # inherited, not sent

    assert Forked(lambda: sum(held["rows"])).result() == sum(range(100_000))


def test_a_child_that_fails_raises_its_error_in_the_parent():
    def fails():
        raise ValueError("no such sheet")

    with pytest.raises(ChildProcessError, match="no such sheet"):
        Forked(fails).result()


def test_a_child_that_dies_raises_in_the_parent():
    with pytest.raises(ChildProcessError, match="ended with code"):
        Forked(lambda: os.kill(os.getpid(), signal.SIGKILL)).result()


def test_a_cancelled_child_is_stopped():
    forked = Forked(signal.pause)
    forked.cancel()
    assert forked._child.exitcode == -signal.SIGKILL
