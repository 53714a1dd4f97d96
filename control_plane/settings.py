"""Platform settings, read from ``CAP_*`` environment variables.

Every backend has an embedded default so ``cap serve`` runs on a fresh machine:
SQLite, in-process bus, Qdrant's embedded engine on local disk (qdrant-edge, in a
child process; qdrant-client local mode selectable), offline models.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAP_", env_file=None, extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    # Public base URL as seen by callers (Twilio signs this one); None = from the request.
    public_url: str | None = None
    data_dir: Path = Field(default=Path("./data"))

    database_url: str | None = None  # default: sqlite+aiosqlite:///<data_dir>/cap.db
    redis_url: str | None = None  # default: in-process bus and limits
    qdrant_url: str | None = None  # default: the embedded store under <data_dir>/knowledge

    # Where the default agent comes from until the control plane holds agents.
    agent_file: Path | None = None
    # Refuse voice sessions that present no credential (default: serve the local agents).
    voice_require_key: bool = False
    # Load local models at startup instead of on the first call (cap serve turns it on).
    warm_up_models: bool = False

    # Offline model paths (None = the models shipped in the installed packages).
    whisper_model_path: str | None = None
    llm_model_path: str | None = None
    tts_voice: str = "heart"

    secret_key: str = "dev-insecure-change-me"
    log_level: str = "info"

    # ---- control plane (identity, tenancy, API); see control_plane/services.py
    database_schema: str | None = None  # PostgreSQL schema (None = server default)
    # PostgreSQL role the app assumes with SET ROLE (must not own the tables, so
    # row-level security binds it); "" = connect as the login role unchanged.
    database_app_role: str = "cap_app"
    migrate_on_start: bool = True
    # Default org, admin and demo agent on an empty database (``cap serve`` seeds
    # before starting whatever this says).
    seed_on_start: bool = False
    admin_email: str = "admin@localhost"
    admin_password: str | None = None  # None: generated and printed at first start
    require_email_verification: bool = True
    session_ttl_hours: float = 168.0
    password_time_cost: int = 3
    password_memory_kib: int = 65_536
    password_parallelism: int = 4
    rate_limit_per_key: int = 600  # requests per window, per API key or login session
    rate_limit_per_ip: int = 1200  # requests per window, per client address
    rate_limit_auth_per_ip: int = 20  # login / register / reset attempts per window
    rate_limit_window_seconds: float = 60.0
    max_request_bytes: int = 1_048_576  # larger bodies get 413
    # Seconds a verified credential is remembered (tenancy/authcache.py): any change
    # through the API forgets them all at once; other nodes see a revocation within
    # this time. 0: look every credential up on every request.
    auth_cache_seconds: float = 1.0
    smtp_host: str | None = None  # None: mail is logged instead of sent
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_sender: str = "cap@localhost"
    smtp_starttls: bool = True

    # ---- ops surfaces; see control_plane/ops/
    # Bearer token a Prometheus scraper sends for /metrics (None: platform
    # administrators' logins only). Make it long and random.
    ops_token: str | None = None

    # ---- WebRTC and the browser widget; see control_plane/webrtc/
    # ICE servers for both ends, e.g. [{"urls": "stun:stun.example.org:3478"}] or
    # with "username"/"credential" for TURN. Empty: host candidates only.
    webrtc_ice_servers: list[dict[str, str]] = Field(default_factory=list)
    # Publishable widget keys: key -> agent ids it grants (besides derived keys).
    widget_keys: dict[str, list[str]] = Field(default_factory=dict)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'cap.db'}"
