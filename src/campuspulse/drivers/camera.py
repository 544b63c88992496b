"""Network cameras: is the camera reachable, and is its stream alive?

`rtsp`: a TCP connection to the RTSP port, `OPTIONS` (RTSP/1.0, RFC 2326), then `DESCRIBE` asking for
SDP; a `200` with a video media line means the stream is alive (`in_use`); a camera that answers
OPTIONS but serves no video is `idle`. `http`: a snapshot URL must return a JPEG (`in_use`).
No answer or a refused connection raise OSError (the agent reports `fault`). Values: `alive` (1/0)
and `latency_ms`. Cameras that ask for credentials get them by HTTP Digest (RFC 7616, MD5, as IP cameras
use it) or Basic, from `username`/`password` or the URL's `user:password@`; a `401` without them, or
refused, is a DeviceError naming that.
"""

import asyncio
import base64
import hashlib
import os
import re
import time
from collections.abc import Generator
from typing import Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from campuspulse.drivers.base import DeviceError, Observation


class CameraConfig(BaseModel):
    """Options of the `camera` driver."""

    model_config = ConfigDict(extra="forbid")
    driver: Literal["camera"] = "camera"
    check: Literal["rtsp", "http"] = "rtsp"
    url: str = Field(description="rtsp://[user:password@]host[:554]/path or http(s)://host/snapshot.jpg")
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: float = Field(3.0, gt=0)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


class ChallengeAuth(httpx.Auth):
    """HTTP credentials given the way the camera's `401` challenge asks: Digest or Basic."""

    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send the request; answer a challenge once."""
        response = yield request
        challenge = response.headers.get("www-authenticate")
        if response.status_code != 401 or not challenge:
            return
        uri = request.url.raw_path.decode("ascii", "replace")
        request.headers["Authorization"] = authorization(challenge, request.method, uri, self.username, self.password)
        yield request


def authorization(challenge: str, method: str, uri: str, username: str, password: str, nc: int = 1) -> str:
    """The `Authorization` answering a `WWW-Authenticate` challenge: Digest (MD5, with or without qop=auth)
    or Basic."""
    scheme, _, rest = challenge.strip().partition(" ")
    if scheme.lower() == "basic":
        return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    if scheme.lower() != "digest":
        raise DeviceError(f"the camera asks for {scheme!r} authentication; Digest and Basic are supported")
    p = {k.lower(): v1 or v2 for k, v1, v2 in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', rest)}
    if p.get("algorithm", "MD5").upper() != "MD5":
        raise DeviceError(f"the camera asks for Digest with {p['algorithm']}; MD5 is supported")
    ha1, ha2 = _md5(f"{username}:{p.get('realm', '')}:{password}"), _md5(f"{method}:{uri}")
    fields = {"username": username, "realm": p.get("realm", ""), "nonce": p.get("nonce", ""), "uri": uri}
    if "auth" in [q.strip() for q in p.get("qop", "").split(",")]:
        cnonce = os.urandom(8).hex()
        fields |= {
            "qop": "auth",
            "nc": f"{nc:08x}",
            "cnonce": cnonce,
            "response": _md5(f"{ha1}:{p.get('nonce', '')}:{nc:08x}:{cnonce}:auth:{ha2}"),
        }
    else:
        fields["response"] = _md5(f"{ha1}:{p.get('nonce', '')}:{ha2}")
    if "opaque" in p:
        fields["opaque"] = p["opaque"]
    quoted = ", ".join(f'{k}="{v}"' if k not in ("qop", "nc") else f"{k}={v}" for k, v in fields.items())
    return f"Digest {quoted}"


class CameraDriver:
    """Probes one camera per read."""

    def __init__(self, config: CameraConfig) -> None:
        self.config = config
        url = urlsplit(config.url)
        self.url = urlunsplit(url._replace(netloc=url.netloc.rpartition("@")[2]))  # without user:password@
        user = config.username or (unquote(url.username) if url.username else None)
        secret = config.password.get_secret_value() if config.password else unquote(url.password or "")
        self.credentials = (user, secret) if user else None

    async def open(self) -> None:
        """Nothing to keep open."""

    async def close(self) -> None:
        """Nothing to release."""

    async def read(self) -> Observation:
        """Probe the camera."""
        started = time.monotonic()
        alive = await (self._rtsp() if self.config.check == "rtsp" else self._http())
        latency = (time.monotonic() - started) * 1000
        return Observation(
            int(time.time() * 1000),
            {"alive": 1.0 if alive else 0.0, "latency_ms": round(latency, 1)},
            state="in_use" if alive else "idle",
        )

    async def _http(self) -> bool:
        auth = ChallengeAuth(*self.credentials) if self.credentials else None
        try:
            async with httpx.AsyncClient(timeout=self.config.timeout_s, auth=auth) as client:
                r = await client.get(self.url)
        except httpx.TimeoutException:
            raise DeviceError(f"camera {self.url}: no answer within {self.config.timeout_s} s") from None
        except httpx.TransportError as exc:
            raise OSError(f"camera {self.url}: {exc}") from None
        if r.status_code == 401:
            raise DeviceError(self._refused(self.url))
        return r.status_code == 200 and r.content[:2] == b"\xff\xd8"

    def _refused(self, where: str) -> str:
        if self.credentials is None:
            return f"camera {where} asks for credentials: set username and password in the device's source"
        return f"camera {where} refused the credentials of user {self.credentials[0]!r}"

    async def _rtsp(self) -> bool:
        url = urlsplit(self.config.url)
        host, port = url.hostname or "", url.port or 554
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), self.config.timeout_s)
        except TimeoutError:
            raise DeviceError(f"camera {host}:{port}: no connection within {self.config.timeout_s} s") from None
        try:
            status, _, _ = await self._request(reader, writer, "OPTIONS", 1, "")
            if status != 200:
                return False
            accept = "Accept: application/sdp\r\n"
            status, body, challenge = await self._request(reader, writer, "DESCRIBE", 2, accept)
            if status == 401 and self.credentials is not None and challenge:
                answer = authorization(challenge, "DESCRIBE", self.url, *self.credentials)
                status, body, _ = await self._request(
                    reader, writer, "DESCRIBE", 3, f"{accept}Authorization: {answer}\r\n"
                )
            if status == 401:
                raise DeviceError(self._refused(f"{host}:{port}"))
            return status == 200 and any(line.startswith("m=video") for line in body.splitlines())
        finally:
            writer.close()

    async def _request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, method: str, cseq: int, headers: str
    ) -> tuple[int, str, str]:
        """(status, body, the WWW-Authenticate challenge or "") of one RTSP request."""
        writer.write(f"{method} {self.url} RTSP/1.0\r\nCSeq: {cseq}\r\n{headers}\r\n".encode())
        await writer.drain()
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.config.timeout_s)
        except TimeoutError:
            raise DeviceError(f"camera {self.url}: no answer to {method}") from None
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            raise DeviceError(f"camera {self.url}: the connection closed during {method}") from None
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("RTSP/") or not parts[1].isdigit():
            raise DeviceError(f"camera {self.url}: not an RTSP answer: {lines[0]!r}")
        length = next(
            (
                int(v)
                for k, _, v in (ln.partition(":") for ln in lines[1:])
                if k.strip().lower() == "content-length" and v.strip().isdigit()
            ),
            0,
        )
        body = await asyncio.wait_for(reader.readexactly(length), self.config.timeout_s) if length else b""
        challenges = [
            v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:]) if k.strip().lower() == "www-authenticate"
        ]
        digest = next((c for c in challenges if c.lower().startswith("digest")), challenges[0] if challenges else "")
        return int(parts[1]), body.decode("latin-1"), digest
