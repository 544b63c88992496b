"""A PJLink class 1 projector on a TCP port: greeting, optional MD5 authentication, POWR and ERST."""

import asyncio
import hashlib
import threading
from dataclasses import dataclass, field


@dataclass
class Projector:
    """The projector's state; change it while the simulator runs."""

    power: str = "1"
    errors: str = "000000"
    password: str | None = None
    seed: str = "498e4a67"
    commands: list[str] = field(default_factory=list)
    silent: bool = False


class PjlinkSimulator:
    """Serves one `Projector` on 127.0.0.1:<port> from a background event loop."""

    def __init__(self, projector: Projector) -> None:
        self.projector = projector
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        p = self.projector
        expected = None
        if p.password is None:
            writer.write(b"PJLINK 0\r")
        else:
            writer.write(f"PJLINK 1 {p.seed}\r".encode())
            expected = hashlib.md5((p.seed + p.password).encode()).hexdigest()
        try:
            first = True
            while True:
                line = (await reader.readuntil(b"\r"))[:-1].decode()
                if first and expected is not None:
                    if line[:32] != expected:
                        writer.write(b"PJLINK ERRA\r")
                        break
                    line = line[32:]
                first = False
                p.commands.append(line)
                if p.silent:
                    continue
                if line == "%1POWR ?":
                    writer.write(f"%1POWR={p.power}\r".encode())
                elif line == "%1ERST ?":
                    writer.write(f"%1ERST={p.errors}\r".encode())
                else:
                    writer.write(f"{line.split(' ')[0]}=ERR1\r".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def start(self) -> None:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop)
        self._server = fut.result(5)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
