"""`python -m cabinet worker --home DIR`: the cabinet's worker process, which `svod serve` starts beside the web
server (gunicorn)."""

import argparse
import logging

from cabinet.setup import start

parser = argparse.ArgumentParser(prog="python -m cabinet", description="svod cabinet processes")
parser.add_argument("process", choices=["worker"])
parser.add_argument("--home")
args = parser.parse_args()
start(args.home)
logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
logging.getLogger("cabinet").setLevel(logging.INFO)

from cabinet.worker import run_forever  # noqa: E402 — models load once Django is set up

run_forever()
