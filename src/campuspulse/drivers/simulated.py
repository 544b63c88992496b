"""A simulated power-metered device following a class timetable (demo and tests).

It stands in for a smart plug or power meter on a lab PC, smart board or instrument: during the
periods its room has a class it draws `in_use_w`, otherwise `idle_w` while the building is open,
and nothing outside opening hours. Which periods are used is drawn from a seed per device and day,
so a campus of simulated devices has a realistic, reproducible timetable.
"""

import hashlib
import random
import time
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from campuspulse.drivers.base import Observation

Period = tuple[str, str]
JUNIOR_DAY: list[Period] = [
    ("08:00", "08:45"),
    ("08:55", "09:40"),
    ("10:00", "10:45"),
    ("10:55", "11:40"),
    ("14:00", "14:45"),
    ("14:55", "15:40"),
    ("15:50", "16:35"),
]


class SimulatedDeviceConfig(BaseModel):
    """Options of the `simulated` driver."""

    model_config = ConfigDict(extra="forbid")
    driver: Literal["simulated"] = "simulated"
    tz: str = Field("Asia/Shanghai", description="the school's time zone")
    periods: list[Period] = Field(default_factory=lambda: list(JUNIOR_DAY), description="HH:MM local periods")
    use_share: float = Field(0.4, ge=0, le=1, description="share of periods in which the device is used")
    open_hours: Period = ("07:30", "17:30")
    in_use_w: float = Field(85.0, gt=0)
    idle_w: float = Field(12.0, ge=0)
    seed: str = "sim"
    jitter_min: int = Field(6, ge=0, le=30, description="classes start and end up to this many minutes off")
    day_overrides: dict[str, list[Period]] = Field(
        default_factory=dict, description="periods of particular dates (e.g. a make-up day)"
    )


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


class SimulatedDevice:
    """The simulated device; `sample(ts_ms)` is what `read()` returns at that instant."""

    def __init__(self, config: SimulatedDeviceConfig) -> None:
        self.config = config
        self.tz = ZoneInfo(config.tz)
        self._day_plan: dict[date, list[tuple[int, int]]] = {}
        self._open = (_minutes(config.open_hours[0]), _minutes(config.open_hours[1]))
        self._noise_key = int.from_bytes(hashlib.sha256(config.seed.encode()).digest()[:8], "big")

    async def open(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to release."""

    async def read(self) -> Observation:
        """The device's power now."""
        return self.sample(int(time.time() * 1000))

    def used_windows(self, day: date) -> list[tuple[int, int]]:
        """Minutes of the local day during which the device is in use."""
        if day not in self._day_plan:
            cfg = self.config
            periods = cfg.day_overrides.get(day.isoformat(), cfg.periods if day.weekday() < 5 else [])
            digest = hashlib.sha256(f"{cfg.seed}|{day.isoformat()}".encode()).digest()
            rnd = random.Random(digest)
            plan = []
            for start, end in periods:
                if rnd.random() < cfg.use_share:
                    s, e = _minutes(start), _minutes(end)
                    plan.append((s + rnd.randint(0, cfg.jitter_min), e - rnd.randint(0, cfg.jitter_min)))
            self._day_plan[day] = plan
        return self._day_plan[day]

    def sample(self, ts_ms: int) -> Observation:
        """The observation at `ts_ms` (deterministic but for small measurement noise)."""
        local = datetime.fromtimestamp(ts_ms / 1000, self.tz)
        minute = local.hour * 60 + local.minute + local.second / 60
        o0, o1 = self._open
        windows = self.used_windows(local.date())
        if windows:  # the building opens for the day's classes, whatever the usual hours
            o0, o1 = min(o0, windows[0][0] - 30), max(o1, windows[-1][1] + 30)
        noise = (((ts_ms ^ self._noise_key) * 0x9E3779B97F4A7C15) >> 40 & 0xFFFF) / 0xFFFF * 0.1 - 0.05  # ±5 %
        if not o0 <= minute < o1:
            watts = 0.0
        elif any(s <= minute < e for s, e in windows):
            watts = self.config.in_use_w * (1 + noise)
        else:
            watts = self.config.idle_w * (1 + noise)
        return Observation(ts_ms, {"power_w": round(watts, 2)})
