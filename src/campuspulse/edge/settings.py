"""The agent's sections (`mqtt`, `agent`): the devices it watches, their drivers and state detection."""

from pathlib import Path
from typing import ClassVar

from pydantic import Field, model_validator

from campuspulse.drivers.registry import DRIVER_TAGS, DriverConfig
from campuspulse.edge.state_detection import DetectorConfig
from campuspulse.settings import MqttSettings, ProcessSettings, Section
from campuspulse.telemetry.topics import ID_PATTERN


class DeviceSettings(Section):
    """One device an agent watches."""

    id: str = Field(pattern=rf"^{ID_PATTERN}$")
    poll_s: float = Field(10.0, gt=0)
    reading_every_s: float = Field(60.0, gt=0)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    source: DriverConfig


class AgentSettings(Section):
    """An edge agent."""

    id: str = Field(pattern=rf"^{ID_PATTERN}$")
    school: str = Field(pattern=rf"^{ID_PATTERN}$")
    queue_path: Path = Path("var/agent-queue.db")
    queue_max_mb: float | None = Field(
        None, gt=0, description="disk bound of the queue: when full, the oldest readings are thinned and announced"
    )
    valid_s: int = Field(180, ge=3, le=86400)
    heartbeat_s: float | None = Field(None, gt=0, description="default valid_s / 3")
    batch_size: int = Field(500, ge=1, le=10000)
    status_every_s: float = Field(60, ge=1, description="how often the retained status repeats, with queue depth")
    metrics_port: int | None = Field(None, ge=1, le=65535, description="serve Prometheus /metrics here")
    devices: list[DeviceSettings] = Field(min_length=1)

    @model_validator(mode="after")
    def _heartbeat(self) -> "AgentSettings":
        if self.heartbeat_s is None:
            self.heartbeat_s = self.valid_s / 3
        elif self.heartbeat_s > self.valid_s / 3:
            raise ValueError(f"heartbeat_s {self.heartbeat_s} must be at most valid_s / 3 = {self.valid_s / 3}")
        ids = [d.id for d in self.devices]
        if len(ids) != len(set(ids)):
            raise ValueError(f"device ids must be unique, got {ids}")
        return self


class AgentRoleSettings(ProcessSettings):
    """What `campuspulse agent` reads: the broker and the agent."""

    driver_tags: ClassVar = DRIVER_TAGS
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    agent: AgentSettings | None = None
