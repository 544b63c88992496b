"""Per device: turns observations into contract records (state on change and as heartbeat, readings)."""

from dataclasses import dataclass
from typing import Any

from campuspulse.drivers.base import Observation
from campuspulse.edge.state_detection import DetectorConfig, StateDetector
from campuspulse.telemetry import format_ts


@dataclass(frozen=True, slots=True)
class EmitPolicy:
    """How often state is repeated and readings are sent."""

    valid_s: int = 180
    heartbeat_s: float = 60.0
    reading_every_s: float = 60.0


class DeviceMonitor:
    """Decides which records one device's observations produce."""

    def __init__(self, device: str, detector: DetectorConfig, policy: EmitPolicy) -> None:
        self.device, self.policy = device, policy
        self.detector = StateDetector(detector)
        self._last_state: tuple[str, int] | None = None
        self._last_reading_ms: int | None = None

    def _state(self, state: str, ts_ms: int) -> dict[str, Any] | None:
        last = self._last_state
        if last is not None and last[0] == state and ts_ms - last[1] < self.policy.heartbeat_s * 1000:
            return None
        self._last_state = (state, ts_ms)
        return {
            "type": "state",
            "ts": format_ts(ts_ms),
            "device": self.device,
            "state": state,
            "valid_s": self.policy.valid_s,
        }

    def observe(self, obs: Observation) -> list[dict[str, Any]]:
        """Records (without seq) due after this observation."""
        out = []
        state = self.detector.update(obs)
        if state is not None and (rec := self._state(state, obs.ts_ms)) is not None:
            out.append(rec)
        last = self._last_reading_ms
        if obs.values and (last is None or obs.ts_ms - last >= self.policy.reading_every_s * 1000):
            self._last_reading_ms = obs.ts_ms
            out.append({"type": "reading", "ts": format_ts(obs.ts_ms), "device": self.device, "values": obs.values})
        return out

    def fault(self, ts_ms: int) -> list[dict[str, Any]]:
        """Records due when the device could not be read: a `fault` state (repeated as heartbeat)."""
        rec = self._state("fault", ts_ms)
        return [rec] if rec is not None else []
