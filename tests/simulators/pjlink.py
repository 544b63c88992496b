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
    lowercase: bool = False  # greeting and answers in lower case, as some projectors send them
    ending: bytes = b"\r"


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

        def say(text: str) -> None:
            writer.write((text.lower() if p.lowercase else text).encode() + p.ending)

        if p.password is None:
            say("PJLINK 0")
        else:
            say(f"PJLINK 1 {p.seed}")
            expected = hashlib.md5((p.seed + p.password).encode()).hexdigest()
        try:
            first = True
            while True:
                line = (await reader.readuntil(b"\r"))[:-1].decode()
                if first and expected is not None:
                    if line[:32] != expected:
                        say("PJLINK ERRA")
                        break
                    line = line[32:]
                first = False
                p.commands.append(line)
                if p.silent:
                    continue
                if line == "%1POWR ?":
                    say(f"%1POWR={p.power}")
                elif line == "%1ERST ?":
                    say(f"%1ERST={p.errors}")
                else:
                    say(f"{line.split(' ')[0]}=ERR1")
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
