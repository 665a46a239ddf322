"""Work handed to a forked child (`pipeline.forked`): its value comes back, and its failure or death is raised
where the value is asked for, never waited on forever."""

from __future__ import annotations

import multiprocessing
import os
import signal

import pytest

from pipeline.forked import Forked, spare_core
from pipeline.isolation import end_with_parent


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


def test_a_daemonic_process_keeps_its_work_to_itself():
    """Some executors run their steps in daemonic processes, which may not start children."""
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    step = context.Process(target=lambda: answers.put(spare_core()), daemon=True)
    step.start()
    assert answers.get(timeout=30) is False
    step.join()


def test_a_helper_whose_parent_died_before_it_could_ask_stops_at_once():
    """The kernel's parent-death signal covers only a parent that dies after the helper asked for it."""
    context = multiprocessing.get_context("fork")
    gone = os.getpid() + 4_000_000  # not the helper's parent: as if its own had died and it was re-parented
    helper = context.Process(target=end_with_parent, args=(gone,))
    helper.start()
    helper.join(30)
    assert helper.exitcode == -signal.SIGTERM
