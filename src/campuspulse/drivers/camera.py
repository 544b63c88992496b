"""Network cameras: is the camera reachable, and is its stream alive?

`rtsp`: a TCP connection to the RTSP port, `OPTIONS` (RTSP/1.0, RFC 2326), then `DESCRIBE` asking for
SDP; a `200` with a video media line means the stream is alive (`in_use`); a camera that answers
OPTIONS but serves no video is `idle`. `http`: a snapshot URL must return a JPEG (`in_use`).
No answer or a refused connection raise OSError (the agent reports `fault`). Values: `alive` (1/0)
and `latency_ms`. Credentials, where a camera asks for them, are not yet supported: a `401` is a
DeviceError naming that.
"""

import asyncio
import time
from typing import Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field

from campuspulse.drivers.base import DeviceError, Observation


class CameraConfig(BaseModel):
    """Options of the `camera` driver."""

    model_config = ConfigDict(extra="forbid")
    driver: Literal["camera"] = "camera"
    check: Literal["rtsp", "http"] = "rtsp"
    url: str = Field(description="rtsp://host[:554]/path or http(s)://host/snapshot.jpg")
    timeout_s: float = Field(3.0, gt=0)


class CameraDriver:
    """Probes one camera per read."""

    def __init__(self, config: CameraConfig) -> None:
        self.config = config

    async def open(self) -> None:
        """Nothing to keep open."""

    async def close(self) -> None:
        """Nothing to release."""

    async def read(self) -> Observation:
        """Probe the camera."""
        started = time.monotonic()
        alive = await (self._rtsp() if self.config.check == "rtsp" else self._http())
        latency = (time.monotonic() - started) * 1000
        return Observation(int(time.time() * 1000), {"alive": 1.0 if alive else 0.0, "latency_ms": round(latency, 1)},
                           state="in_use" if alive else "idle")  # fmt: skip

    async def _http(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=self.config.timeout_s) as client:
                r = await client.get(self.config.url)
        except httpx.TimeoutException:
            raise DeviceError(f"camera {self.config.url}: no answer within {self.config.timeout_s} s") from None
        except httpx.TransportError as exc:
            raise OSError(f"camera {self.config.url}: {exc}") from None
        if r.status_code == 401:
            raise DeviceError(f"camera {self.config.url} asks for credentials, which this driver does not send yet")
        return r.status_code == 200 and r.content[:2] == b"\xff\xd8"

    async def _rtsp(self) -> bool:
        url = urlsplit(self.config.url)
        host, port = url.hostname or "", url.port or 554
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), self.config.timeout_s)
        except TimeoutError:
            raise DeviceError(f"camera {host}:{port}: no connection within {self.config.timeout_s} s") from None
        try:
            status, _ = await self._request(reader, writer, "OPTIONS", 1, "")
            if status != 200:
                return False
            status, body = await self._request(reader, writer, "DESCRIBE", 2, "Accept: application/sdp\r\n")
            if status == 401:
                raise DeviceError(f"camera {host} asks for credentials, which this driver does not send yet")
            return status == 200 and any(line.startswith("m=video") for line in body.splitlines())
        finally:
            writer.close()

    async def _request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, method: str, cseq: int, headers: str
    ) -> tuple[int, str]:
        writer.write(f"{method} {self.config.url} RTSP/1.0\r\nCSeq: {cseq}\r\n{headers}\r\n".encode())
        await writer.drain()
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.config.timeout_s)
        except TimeoutError:
            raise DeviceError(f"camera {self.config.url}: no answer to {method}") from None
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            raise DeviceError(f"camera {self.config.url}: the connection closed during {method}") from None
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("RTSP/") or not parts[1].isdigit():
            raise DeviceError(f"camera {self.config.url}: not an RTSP answer: {lines[0]!r}")
        length = next((int(v) for k, _, v in (ln.partition(":") for ln in lines[1:])
                       if k.strip().lower() == "content-length" and v.strip().isdigit()), 0)  # fmt: skip
        body = await asyncio.wait_for(reader.readexactly(length), self.config.timeout_s) if length else b""
        return int(parts[1]), body.decode("latin-1")
