"""One piece of CPU work handed to a forked copy of this process, so that it runs on the second core while this
process goes on with the rest: the child inherits everything the parent holds (nothing is pickled on the way in),
works out one value and sends it back through a pipe. Only a large piece earns the fork (tens of milliseconds for
a parent of a gigabyte). The child ends with the parent (`end_with_parent`), and its failure is raised where the
value is asked for.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import traceback
from collections.abc import Callable

from pipeline.isolation import end_with_parent


def spare_core() -> bool:
    """Whether there is a second core to hand work to, and this process may start one (a daemonic process, as
    some executors run their steps in, may not)."""
    return (os.cpu_count() or 1) > 1 and not multiprocessing.current_process().daemon


class Forked:
    """`fn(*args)` started now in a forked child; `result()` waits for its value."""

    def __init__(self, fn: Callable, *args):
        context = multiprocessing.get_context("fork")
        for stream in (
            sys.stdout,
            sys.stderr,
        ):  # the child flushes them as it ends: not this process's text twice
            stream.flush()
        self._receiver, sender = context.Pipe(duplex=False)
        self._child = context.Process(target=_send, args=(sender, os.getpid(), fn, args))
        self._child.start()
        sender.close()  # only the child writes: the parent sees the end of the pipe if it dies

    def result(self):
        """The child's value; ChildProcessError if it failed or died before sending one."""
        try:
            ok, value = self._receiver.recv()
        except EOFError:
            value, ok = None, False
        finally:
            self._receiver.close()
            self._child.join()
        if not ok:
            raise ChildProcessError(value or f"a forked helper ended with code {self._child.exitcode}")
        return value

    def cancel(self) -> None:
        """Stop the child when its value is no longer wanted (the parent's own work failed)."""
        self._child.kill()
        self._child.join()
        self._receiver.close()


def _send(sender, parent: int, fn: Callable, args: tuple) -> None:
    end_with_parent(parent)
    try:
        value = (True, fn(*args))
    except BaseException:  # the parent raises it; the child has no one else to tell
        value = (False, traceback.format_exc(limit=5))
    try:
        sender.send(value)
    except OSError:  # the parent no longer listens: it failed, or was stopped
        pass
    sender.close()
