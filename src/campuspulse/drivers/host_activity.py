"""Host activity of the machine the agent runs on (a lab PC, a smart board's OPS computer), via psutil.

A read counts the running processes whose name is in `apps` (teaching software, lab software) and
the CPU load; any of them running is `in_use`, none `idle`. With `idle_after_s`, the machine is in use
only while someone has touched it (keyboard, mouse, touch screen) within that many seconds, and, if
`apps` are listed, one of them runs: a smart board left on with its software open is not in use.
Values: `apps_running`, `cpu_percent`, and `input_idle_s` with `idle_after_s`.
"""

import time
from typing import Literal

import psutil
from pydantic import BaseModel, ConfigDict, Field, model_validator

from campuspulse.drivers.base import Observation
from campuspulse.drivers.input_idle import InputIdle


class HostActivityConfig(BaseModel):
    """Options of the `host_activity` driver."""

    model_config = ConfigDict(extra="forbid")
    driver: Literal["host_activity"] = "host_activity"
    apps: list[str] = Field(default_factory=list, description="process names, e.g. EasiNote.exe, seewo, LabVIEW.exe")
    idle_after_s: float | None = Field(None, gt=0, description="in use only with user input this recent")

    @model_validator(mode="after")
    def _something_to_watch(self) -> "HostActivityConfig":
        if not self.apps and self.idle_after_s is None:
            raise ValueError("give apps (process names), idle_after_s (seconds of user input), or both")
        return self


class HostActivityDriver:
    """Looks at this machine's processes."""

    def __init__(self, config: HostActivityConfig) -> None:
        self.config = config
        self._names = {a.lower() for a in config.apps}
        self._idle: InputIdle | None = None

    async def open(self) -> None:
        """Prime the CPU counter (the first reading of psutil.cpu_percent is meaningless); reach the desktop
        session for its input idle time if asked to."""
        psutil.cpu_percent(interval=None)
        if self.config.idle_after_s is not None:
            self._idle = InputIdle()

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
        in_use = running > 0 or not self._names
        if self._idle is not None and self.config.idle_after_s is not None:
            values["input_idle_s"] = round(self._idle.seconds(), 1)
            in_use = in_use and values["input_idle_s"] < self.config.idle_after_s
        return Observation(int(time.time() * 1000), values, state="in_use" if in_use else "idle")
