"""The collector's sections (`mqtt`, `store`, `collector`, `timeseries`)."""

from pathlib import Path

from pydantic import Field, SecretStr

from campuspulse.settings import MqttSettings, ProcessSettings, Section
from campuspulse.store.settings import StoreSettings
from campuspulse.telemetry.topics import ID_PATTERN


class CollectorSettings(Section):
    """The MQTT → store collector."""

    client_id: str = Field("campuspulse-collector", pattern=rf"^{ID_PATTERN}$")
    shared_group: str | None = Field(None, pattern=rf"^{ID_PATTERN}$", description="$share group of collectors")
    batch_max_messages: int = Field(500, ge=1, le=10000, description="messages written in one transaction")
    batch_max_delay_ms: int = Field(50, ge=0, le=10000, description="how long a batch waits to fill")
    metrics_port: int | None = Field(None, ge=1, le=65535, description="serve Prometheus /metrics here")


class TimeSeriesSettings(Section):
    """The optional time-series store (InfluxDB 2/3 or VictoriaMetrics, v2 write API)."""

    url: str = "http://127.0.0.1:8428"
    token: SecretStr = SecretStr("")
    org: str = "campuspulse"
    bucket: str = "campuspulse"
    spool_path: Path = Path("var/timeseries-spool.db")
    max_spool_lines: int = Field(5_000_000, ge=1000, description="disk budget while the store is down")
    batch_lines: int = Field(5000, ge=1)


class CollectorRoleSettings(ProcessSettings):
    """What `campuspulse collector` reads."""

    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    collector: CollectorSettings = Field(default_factory=CollectorSettings)
    timeseries: TimeSeriesSettings | None = None
