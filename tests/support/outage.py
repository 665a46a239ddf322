"""A database that goes away and comes back, as its clients see it: a TCP forwarder the services connect through.
`cut()` ends every open connection and stops listening, so new connections are refused (as when the server is
stopped); `restore()` listens again on the same port. The test's other users of the server are not disturbed."""

from __future__ import annotations

import socket
import struct
import threading


class Outage:
    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._serve(self._listener)

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            listener.close()
            for conn in self._open:  # shut down first: a close alone leaves a recv of another thread waiting
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self._open.clear()

    def restore(self) -> None:
        with self._lock:
            self._listener = socket.create_server(("127.0.0.1", self.port))
            self._serve(self._listener)

    def close(self) -> None:
        if self._listener is not None:
            self.cut()

    def _serve(self, listener: socket.socket) -> None:
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # cut
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    server.close()
                    return
                self._open |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                for s in (source, sink):
                    if s in self._open:
                        self._open.discard(s)
                        try:
                            s.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                        s.close()
