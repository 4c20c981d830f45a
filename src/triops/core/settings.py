"""The one settings object, parsed once at the edge (CLI or server start).

Sources, highest priority first: explicit overrides (CLI flags), ``TRIOPS_*``
environment variables, ``triops.toml`` (or the file named by ``TRIOPS_CONFIG``),
then the defaults below. Nothing else in triops reads the environment.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from triops.core.errors import ConfigError
from triops.core.gateway_settings import GatewaySettings

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIOPS_", extra="ignore")

    home: Path = Field(Path(".triops"), description="Folder for the embedded store and artifacts")
    store: str | None = Field(None, description="SQLAlchemy URL of the metadata store")
    artifacts: str | None = Field(None, description="Local folder or fsspec URL for artifacts")
    host: str = "127.0.0.1"
    port: int = Field(7600, ge=0, le=65535)
    auth: bool = True
    admin_key: SecretStr | None = None
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, gt=0)
    redis_url: str | None = None
    log_level: str = "info"
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    pipeline_modules: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Modules (or packages) whose pipelines the server "
        "may import; comma-separated in TRIOPS_PIPELINE_MODULES")
    runbook_secrets: dict[str, SecretStr] = Field(
        default_factory=dict, description="Named secrets that runbook webhooks sign with "
        "(HMAC-SHA256); JSON in TRIOPS_RUNBOOK_SECRETS")
    capacity_interval_s: int = Field(
        300, ge=0, description="Each series is projected for capacity rules at most once per "
        "this many seconds of its own time")
    retention_interval_s: int = Field(
        3600, gt=0, description="Each project's retention policy is enforced at most once per "
        "this many seconds, by one of the servers sharing the store")

    @field_validator("pipeline_modules", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("store")
    @classmethod
    def _store_is_sqlalchemy_url(cls, value: str | None) -> str | None:
        if value is not None and "://" not in value:
            raise ValueError(
                f"store must be a SQLAlchemy URL such as sqlite:///path.db or "
                f"postgresql+psycopg://user@host/db, got {value!r}"
            )
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _config_file()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build settings, turning validation problems into one readable ConfigError."""
        from pydantic import ValidationError

        given = {k: v for k, v in overrides.items() if v is not None}
        try:
            return cls(**given)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"invalid settings: {problems}") from None

    @property
    def store_url(self) -> str:
        if self.store:
            return self.store
        return f"sqlite:///{(self.home / 'triops.db').resolve()}"

    @property
    def artifacts_location(self) -> str:
        if self.artifacts:
            return self.artifacts
        return str((self.home / "artifacts").resolve())

    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def check_auth_binding(self) -> None:
        """``--no-auth`` is only safe when nobody but this machine can reach the server."""
        if not self.auth and not self.is_loopback():
            raise ConfigError(
                f"--no-auth is refused when binding to {self.host}: anyone who can reach "
                "this address could write. Bind to 127.0.0.1 or keep auth on."
            )


def _config_file() -> Path | None:
    # The one environment read outside pydantic-settings: where the config file is.
    named = os.environ.get("TRIOPS_CONFIG")
    if named:
        return Path(named)
    default = Path("triops.toml")
    return default if default.is_file() else None
