"""From readings to usage state: thresholds with hysteresis and a debounce."""

from pydantic import BaseModel, ConfigDict, Field, model_validator

from campuspulse.drivers.base import Observation


class DetectorConfig(BaseModel):
    """Power thresholds (W) and how long a new state must hold before it counts."""

    model_config = ConfigDict(extra="forbid")
    value: str = Field("power_w", description="the reading the thresholds apply to")
    in_use_above: float = Field(40.0, description="enter in_use at or above this")
    idle_below: float = Field(25.0, description="leave in_use below this (hysteresis)")
    off_below: float = Field(2.0, description="below this the device is off")
    debounce_s: float = Field(0.0, ge=0, description="a new state must hold this long")

    @model_validator(mode="after")
    def _ordered(self) -> "DetectorConfig":
        if not self.off_below <= self.idle_below <= self.in_use_above:
            raise ValueError("expected off_below <= idle_below <= in_use_above")
        return self


class StateDetector:
    """Decides `in_use | idle | off` from one reading, with hysteresis and debounce."""

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config
        self.state: str | None = None
        self._candidate: tuple[str, int] | None = None

    def _raw(self, v: float) -> str:
        c = self.config
        if v < c.off_below:
            return "off"
        if v >= c.in_use_above or (self.state == "in_use" and v >= c.idle_below):
            return "in_use"
        return "idle"

    def update(self, obs: Observation) -> str | None:
        """The state after this observation (None until the first usable reading)."""
        if obs.state is not None:
            raw = obs.state
        elif self.config.value in obs.values:
            raw = self._raw(obs.values[self.config.value])
        else:
            return self.state
        if self.state is None or raw == self.state:
            self.state = raw if self.state is None else self.state
            self._candidate = None
            return self.state
        if self._candidate is None or self._candidate[0] != raw:
            self._candidate = (raw, obs.ts_ms)
        if obs.ts_ms - self._candidate[1] >= self.config.debounce_s * 1000:
            self.state, self._candidate = raw, None
        return self.state
