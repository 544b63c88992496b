"""A real VictoriaMetrics (Debian's `victoria-metrics`) that accepts InfluxDB v2 writes; read back via export."""

import shutil
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import httpx
import orjson

from tests.support.mosquitto import free_port


class Victoria:
    """A victoria-metrics process on a free port, deduplicating identical points like InfluxDB."""

    def __init__(self, workdir: Path) -> None:
        self.workdir, self.port = workdir, free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        exe = shutil.which("victoria-metrics") or "/usr/bin/victoria-metrics"
        self.proc = subprocess.Popen(
            [
                exe,
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.workdir}",
                "-retentionPeriod=100y",
                "-dedup.minScrapeInterval=1ms",
                "-loggerLevel=ERROR",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("victoria-metrics did not start within 20 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
        self.proc = None

    def series(self, metric: str) -> dict[tuple[str, str, str], list[tuple[int, float]]]:
        """(school, agent, device) → [(ts_ms, value)] of one metric, every stored sample."""
        httpx.get(f"{self.url}/internal/force_flush", timeout=10)
        r = httpx.get(f"{self.url}/api/v1/export", params={"match[]": metric, "start": "0"}, timeout=30)
        r.raise_for_status()
        out: dict[tuple[str, str, str], list[tuple[int, float]]] = defaultdict(list)
        for line in r.content.splitlines():
            row = orjson.loads(line)
            m = row["metric"]
            out[(m["school"], m["agent"], m.get("device", ""))] += list(
                zip(row["timestamps"], row["values"], strict=True)
            )
        return out
