"""`python -m pipeline.dagster_process PROGRAM ARGS…`: one of Dagster's programs (its code server, daemon or
webserver) printing each log line once. Dagster's loggers have their own handlers; a library that logs through the
root logger (dagster-postgres calls `logging.warning` while it retries a connection) makes Python give the root
logger a handler of its own, and from then on every Dagster line was printed twice. Here the root logger has a
one-line handler from the start, which leaves Dagster's records to Dagster's handlers."""

import logging
import runpy
import sys


class NotDagsters(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith("dagster")


def main() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    handler.addFilter(NotDagsters())
    logging.getLogger().addHandler(handler)
    sys.argv = sys.argv[1:]  # the program sees itself as started directly
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
