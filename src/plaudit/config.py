"""Settings from the environment, never from files in the repository."""

import secrets
from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    # A `postgresql+psycopg://` URL. Unset: an embedded PostgreSQL is started.
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    # Where the embedded PostgreSQL keeps its data.
    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("plaudit")),
        alias="PLAUDIT_DATA_DIR",
    )
    # Where people reach the server; links (set-password) are built on it, and
    # an https URL makes the web session cookie `Secure`.
    base_url: str = Field(default="http://127.0.0.1:8000", alias="PLAUDIT_BASE_URL")
    # Notifications (README "Notifications").
    # smtp://[user:pass@]host:port or smtps://...; unset: notifications stay in-app.
    smtp_url: str | None = Field(default=None, alias="PLAUDIT_SMTP_URL")
    mail_from: str = Field(default="plaudit@localhost", alias="PLAUDIT_MAIL_FROM")
    # Worker tuning; the tests shorten these.
    mail_retry_seconds: float = Field(default=30.0, gt=0, alias="PLAUDIT_MAIL_RETRY_SECONDS")
    mail_batch: int = Field(default=20, ge=1, alias="PLAUDIT_MAIL_BATCH")
    worker_poll_seconds: float = Field(default=5.0, gt=0, alias="PLAUDIT_WORKER_POLL_SECONDS")
    worker_stalled_seconds: float = Field(default=30.0, gt=0, alias="PLAUDIT_WORKER_STALLED_SECONDS")
    # Signs list cursors. Unset: a random key per process, which `plaudit
    # serve` hands to its workers; set it to keep cursors valid across
    # restarts and hosts.
    secret_key: str = Field(default_factory=lambda: secrets.token_urlsafe(32), alias="PLAUDIT_SECRET_KEY")


@lru_cache
def get_settings() -> Settings:
    return Settings()
