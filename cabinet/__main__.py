"""`python -m cabinet worker|mail --home DIR`: the cabinet's processes beside its web server (gunicorn), which
`svod serve` starts and deploy/ runs as systemd services: the worker (`cabinet.worker`) and the mail queue's
worker (django-tasks' `db_worker`, which sends the recorded notices: `cabinet.notices.send`)."""

import argparse
import logging
import time

from django.core.management import call_command
from django.db import close_old_connections

from cabinet.errors import database_away
from cabinet.setup import start

MAIL_POLL_SECONDS = (
    5  # how often the mail queue is looked at (on SQLite each look takes the write lock a moment)
)

parser = argparse.ArgumentParser(prog="python -m cabinet", description="svod cabinet processes")
parser.add_argument("process", choices=["worker", "mail"])
parser.add_argument("--home")
args = parser.parse_args()
start(args.home)  # Django's settings bring the one-line log format (cabinet.logs)

if args.process == "mail":
    while True:  # the database away: one line, and the queue is looked at again (each task is claimed once)
        try:
            call_command(
                "db_worker", interval=MAIL_POLL_SECONDS, startup_delay=False, reload=False, verbosity=0
            )
            break
        except Exception as exc:
            if not database_away(exc):
                raise
            logging.getLogger("cabinet.mail").warning(
                "the database is away; the mail queue waits", exc_info=exc
            )
            close_old_connections()
            time.sleep(MAIL_POLL_SECONDS)
else:
    from cabinet.worker import run_forever  # models load once Django is set up

    run_forever()
