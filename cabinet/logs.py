"""The cabinet's log lines: one event per line (time, process, level, logger, message), which journald or a
collector reads as one record. A failure is its type and message on that line, with where it was raised; a
traceback is kept only for what is not a known outage (the database away, a full disk), so a minute without the
database is a line per request, not a page each."""

from __future__ import annotations

import logging
import traceback

from cabinet.errors import database_away, disk_full

FORMAT = "%(asctime)s svod[%(process)d] %(levelname)s %(name)s: %(message)s"


class OneLine(logging.Formatter):
    def __init__(self):
        super().__init__(FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        failure = record.exc_info[1] if record.exc_info else None
        if failure is None:
            return super().format(record).replace("\n", " ⏎ ")
        plain = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        where = traceback.extract_tb(failure.__traceback__)[-1:] if failure.__traceback__ else []
        at = f" at {where[0].filename}:{where[0].lineno}" if where else ""
        line = f"{super().format(plain)} | {type(failure).__name__}: {failure}{at}".replace("\n", " ⏎ ")
        if database_away(failure) or disk_full(failure):
            return line
        return line + " ⏎ " + "".join(traceback.format_exception(failure)).replace("\n", " ⏎ ")
