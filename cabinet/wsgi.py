"""The cabinet as a WSGI application, for `svod serve` (waitress) or any WSGI server in production, and how one
of `svod serve`'s web processes answers on the listening socket they share."""

import os
import socket

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cabinet.settings")
application = get_wsgi_application()
WAITRESS = {
    "ident": "svod",
    "clear_untrusted_proxy_headers": True,  # TLS ends at a local proxy
    "trusted_proxy": "127.0.0.1",
    "trusted_proxy_headers": {"x-forwarded-proto"},
}


def serve(listener: socket.socket, threads: int, web_processes: int) -> None:
    """Answer requests on `listener` until stopped, with this process's share of the checking processes. Every
    web process accepts on the same socket: whichever is free takes the next connection."""
    import waitress

    from cabinet import engine

    engine.start_checking(web_processes)
    waitress.serve(application, sockets=[listener], threads=threads, **WAITRESS)
