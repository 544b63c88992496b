"""A TCP proxy the test controls, to cut one client off the network and let it back (a partition)."""

import contextlib
import socket
import threading

from tests.support.mosquitto import free_port


class TcpProxy:
    """Forwards 127.0.0.1:`port` to 127.0.0.1:`target`; `cut()` drops every connection and refuses new ones
    until `restore()`."""

    def __init__(self, target: int) -> None:
        self.target, self.port = target, free_port()
        self._cut = threading.Event()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Partition: every connection through the proxy is dropped, new ones are closed at once."""
        self._cut.set()
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._open.clear()

    def restore(self) -> None:
        """End the partition."""
        self._cut.clear()

    def close(self) -> None:
        self.cut()
        self._listener.close()
