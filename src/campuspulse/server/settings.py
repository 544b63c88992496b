"""The server's sections (`store`, `server`)."""

from pathlib import Path

from pydantic import Field, SecretStr

from campuspulse.server.alerts.service import AlertSettings
from campuspulse.settings import ProcessSettings, Section
from campuspulse.store.settings import StoreSettings


class AgentBrokerSettings(Section):
    """The broker as agents reach it, and — where the server runs beside Mosquitto — the files it may write to give
    an agent its credentials from the dashboard."""

    host: str = Field(description="the broker's host name, as agents reach it")
    port: int = Field(8883, ge=1, le=65535)
    ca_file: str | None = Field(None, description="the CA file on the agent's machine that signs the broker's cert")
    passwd_file: Path | None = Field(None, description="Mosquitto password_file the server adds agents to")
    acl_file: Path | None = Field(None, description="Mosquitto acl_file the server adds agents' rules to")
    pid_file: Path | None = Field(None, description="Mosquitto's pid file: it is sent SIGHUP to reload the files")
    queue_path: str = Field("/var/lib/campuspulse/queue.db", description="the agent's disk queue, on its machine")

    @property
    def manages_credentials(self) -> bool:
        """Whether the server can set an agent's broker password itself."""
        return self.passwd_file is not None and self.acl_file is not None


class ServerSettings(Section):
    """The HTTP server."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    admin_token: SecretStr | None = None
    jwt_secret: SecretStr | None = Field(None, description="signs access tokens; default: a key kept in the store")
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
    api_docs: bool = Field(True, description="serve /docs (packaged Swagger UI) and /openapi.json to logged-in users")
    forwarded_allow_ips: list[str] = Field(
        default_factory=list,
        description="reverse proxies whose X-Forwarded-For/-Proto name the client (addresses or networks); "
        "none by default: the client is the connection's peer",
    )
    audit_checkpoints: str | None = Field(
        None,
        description="where signed checkpoints of the audit chain's head go: a file (a JSON line each) or an "
        "http(s) URL that receives them by POST; keep it off the store's machine. None: no checkpoints",
    )
    audit_key_file: Path = Field(
        Path("var/audit-signing.key"),
        description="the Ed25519 key that signs checkpoints; made on first start (mode 0600), its public key printed",
    )
    audit_checkpoint_every_s: float = Field(
        3600, ge=1, description="how often the head is checkpointed (when it has moved)"
    )
    agent_broker: AgentBrokerSettings | None = Field(
        None, description="the broker agents publish to, for the agent configs the dashboard hands out"
    )


class ServerRoleSettings(ProcessSettings):
    """What `campuspulse server` reads."""

    store: StoreSettings = Field(default_factory=StoreSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
