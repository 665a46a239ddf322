"""`python -m cabinet worker --home DIR`: the cabinet's worker process; `python -m cabinet web --home DIR
--socket-fd N …`: one more web process on the listening socket of `svod serve`, which starts both."""

import argparse
import logging
import signal
import socket
import sys

from cabinet.setup import start

parser = argparse.ArgumentParser(prog="python -m cabinet", description="svod cabinet processes")
parser.add_argument("process", choices=["worker", "web"])
parser.add_argument("--home")
parser.add_argument("--socket-fd", type=int, help="web: the listening socket inherited from svod serve")
parser.add_argument("--threads", type=int, default=8)
parser.add_argument("--web-processes", type=int, default=1, help="web: how many share the socket")
args = parser.parse_args()
start(args.home, migrate=args.process == "worker")  # web processes start after `svod serve` has migrated
logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
logging.getLogger("cabinet").setLevel(logging.INFO)

if args.process == "web":
    from cabinet.wsgi import serve

    signal.signal(
        signal.SIGTERM, lambda *_: sys.exit(0)
    )  # stopped by `svod serve`: its checking processes stop too
    serve(socket.socket(fileno=args.socket_fd), args.threads, args.web_processes)
else:
    from cabinet.worker import run_forever  # models load once Django is set up

    run_forever()
