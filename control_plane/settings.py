"""Platform settings, read from ``CAP_*`` environment variables.

Every backend has an embedded default so ``cap serve`` runs on a fresh machine:
SQLite, in-process bus, Qdrant local mode, offline models.
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
    qdrant_url: str | None = None  # default: local mode under <data_dir>/qdrant

    # Where the default agent comes from until the control plane holds agents.
    agent_file: Path | None = None

    # Offline model paths (None = the models shipped in the installed packages).
    whisper_model_path: str | None = None
    llm_model_path: str | None = None
    tts_voice: str = "heart"

    secret_key: str = "dev-insecure-change-me"
    log_level: str = "info"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'cap.db'}"
