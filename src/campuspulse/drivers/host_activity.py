"""Host activity of the machine the agent runs on (a lab PC, a smart board's OPS computer), via psutil.

A read counts the running processes whose name is in `apps` (teaching software, lab software) and
the CPU load; any of them running is `in_use`, none `idle`. Values: `apps_running`, `cpu_percent`.
User-input idle time is not read yet (it needs the desktop session's API, per OS).
"""

import time
from typing import Literal

import psutil
from pydantic import BaseModel, ConfigDict, Field

from campuspulse.drivers.base import Observation


class HostActivityConfig(BaseModel):
    """Options of the `host_activity` driver."""

    model_config = ConfigDict(extra="forbid")
    driver: Literal["host_activity"] = "host_activity"
    apps: list[str] = Field(min_length=1, description="process names, e.g. EasiNote.exe, seewo, LabVIEW.exe")


class HostActivityDriver:
    """Looks at this machine's processes."""

    def __init__(self, config: HostActivityConfig) -> None:
        self.config = config
        self._names = {a.lower() for a in config.apps}

    async def open(self) -> None:
        """Prime the CPU counter (the first reading of psutil.cpu_percent is meaningless)."""
        psutil.cpu_percent(interval=None)

    async def close(self) -> None:
        """Nothing to release."""

    async def read(self) -> Observation:
        """Which listed applications run now."""
        running = 0
        for proc in psutil.process_iter(["name"]):
            name = (proc.info.get("name") or "").lower()
            if name in self._names:
                running += 1
        values = {"apps_running": float(running), "cpu_percent": float(psutil.cpu_percent(interval=None))}
        return Observation(int(time.time() * 1000), values, state="in_use" if running else "idle")
