"""Configuration: one YAML file, validated by pydantic-settings; `CAMPUSPULSE_<SECTION>__<KEY>` overrides.

Each process reads the sections it needs (`mqtt`, `ledger`, `agent`, `collector`, `server`).
Errors name the file, the line and the field.
"""

from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from campuspulse.config_files import ConfigError, ConfigProblem, problems_of, read_yaml
from campuspulse.drivers import DriverConfig
from campuspulse.edge.state_detection import DetectorConfig
from campuspulse.telemetry.topics import DEFAULT_PREFIX, ID_PATTERN

__all__ = ["ConfigError", "ConfigProblem", "Settings", "load_settings"]
_DRIVER_TAGS = {m.model_fields["driver"].default for m in get_args(get_args(DriverConfig)[0])}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MqttSettings(_Section):
    """How to reach the broker."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None
    topic_prefix: str = DEFAULT_PREFIX
    keepalive_s: int = Field(30, ge=5)
    protocol: Literal["3.1.1", "5"] = "3.1.1"


class LedgerSettings(_Section):
    """Where the ledger lives: a SQLite file by default, PostgreSQL in production."""

    url: str = "sqlite:///var/campuspulse.db"


class DeviceSettings(_Section):
    """One device an agent watches."""

    id: str = Field(pattern=rf"^{ID_PATTERN}$")
    poll_s: float = Field(10.0, gt=0)
    reading_every_s: float = Field(60.0, gt=0)
    detector: DetectorConfig = Field(default_factory=DetectorConfig)
    source: DriverConfig


class AgentSettings(_Section):
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


class CollectorSettings(_Section):
    """The MQTT → ledger collector."""

    client_id: str = Field("campuspulse-collector", pattern=rf"^{ID_PATTERN}$")
    reorder_window_s: float = Field(300.0, gt=0, description="how long records wait behind a seq gap")
    shared_group: str | None = Field(None, pattern=rf"^{ID_PATTERN}$", description="$share group of collectors")
    batch_max_messages: int = Field(500, ge=1, le=10000, description="messages written in one transaction")
    batch_max_delay_ms: int = Field(50, ge=0, le=10000, description="how long a batch waits to fill")
    max_future_skew_s: float = Field(300.0, ge=0, description="records further ahead than this are flagged")
    metrics_port: int | None = Field(None, ge=1, le=65535, description="serve Prometheus /metrics here")


class TimeSeriesSettings(_Section):
    """The optional time-series store (InfluxDB 2/3 or VictoriaMetrics, v2 write API)."""

    url: str = "http://127.0.0.1:8428"
    token: SecretStr = SecretStr("")
    org: str = "campuspulse"
    bucket: str = "campuspulse"
    spool_path: Path = Path("var/timeseries-spool.db")
    max_spool_lines: int = Field(5_000_000, ge=1000, description="disk budget while the store is down")
    batch_lines: int = Field(5000, ge=1)


class ServerSettings(_Section):
    """The HTTP server."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    admin_token: SecretStr | None = None
    jwt_secret: SecretStr | None = Field(None, description="signs access tokens; default: a key kept in the ledger")
    access_token_minutes: int = Field(480, ge=1, le=60 * 24 * 30)
    login_attempts: int = Field(10, ge=1, description="failed logins per user and address before a pause")
    login_window_s: int = Field(900, ge=1, description="how long failed logins count, and the pause")
    cors_origins: list[str] = Field(default_factory=list, description="web origins allowed to call the API")
    scheduler: bool = Field(True, description="run the rollup scheduler here; false on all but one replica")
    rollup_every_s: float = Field(60, ge=1, description="how often stale daily rollups are recomputed")
    ui_timezone: str = Field("Asia/Shanghai", description="'today' of dashboard periods and monthly reports")
    live_every_s: float = Field(2, gt=0, le=60, description="how often dashboard pages look for new records")
    readings_url: str | None = Field(
        None, description="a VictoriaMetrics the collector writes to: readings on timelines"
    )


class Settings(BaseSettings):
    """Everything a campuspulse process may be configured with."""

    model_config = SettingsConfigDict(env_prefix="CAMPUSPULSE_", env_nested_delimiter="__", extra="forbid")
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    ledger: LedgerSettings = Field(default_factory=LedgerSettings)
    agent: AgentSettings | None = None
    collector: CollectorSettings = Field(default_factory=CollectorSettings)
    timeseries: TimeSeriesSettings | None = None
    server: ServerSettings = Field(default_factory=ServerSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return env_settings, init_settings  # the environment overrides the file


def load_settings(path: str | Path) -> Settings:
    """Read and validate a config file; raise ConfigError listing every problem with its line."""
    data, lines = read_yaml(path, "sections (mqtt, ledger, agent, …)")
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(problems_of(str(path), exc, lines, _DRIVER_TAGS)) from None
