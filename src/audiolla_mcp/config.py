"""Server settings: one dataclass, filled from `AUDIOLLA_*` environment variables and CLI flags.

Every CLI flag has an environment equivalent (flag `--max-file-mb` ↔ `AUDIOLLA_MAX_FILE_MB`), so a
container or an MCP client config can set everything without arguments.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

MB = 1024 * 1024


def _env(name: str) -> str | None:
    value = os.environ.get(f"AUDIOLLA_{name.upper()}")
    return value if value not in (None, "") else None


def _as_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _as_bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass
class Settings:
    workspace: Path = Path("workspace")
    toolsets: list[str] = field(default_factory=lambda: ["default"])
    # HTTP transport
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    allowed_hosts: list[str] = field(default_factory=list)
    allowed_origins: list[str] = field(default_factory=list)
    dns_rebinding_protection: bool = True
    max_request_mb: float = 16.0
    # Inputs and outputs
    max_base64_mb: float = 10.0
    inline_max_mb: float = 1.0
    max_file_mb: float = 2048.0
    max_duration_s: float = 4 * 3600.0
    quota_mb: float | None = None
    # Work
    max_jobs: int = 2
    engine_ttl: float = 600.0  # seconds an idle model stays loaded
    engine_process: bool = True  # torch models in a child process that stops when idle
    device: str = "auto"  # where torch models run: auto, cpu, cuda, cuda:N
    models_dir: Path | None = None
    auto_download: bool = False
    log_level: str = "INFO"
    presets_dir: Path | None = None
    # Remote URLs (webhooks; URL inputs later): refused unless the allowlist names the host
    remote_allowlist: list[str] = field(default_factory=list)
    remote_schemes: list[str] = field(default_factory=lambda: ["https"])
    remote_allow_private: bool = False
    remote_max_mb: float = 50.0
    remote_timeout_s: float = 30.0
    webhook_secret: str | None = None

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Defaults, then `AUDIOLLA_*` variables, then explicit (non-None) overrides."""
        settings = cls()
        for f in fields(cls):
            raw = _env(f.name)
            if raw is not None:
                setattr(settings, f.name, _coerce(f.type, raw))
        for name, value in overrides.items():
            if value is not None:
                setattr(settings, name, value)
        settings.workspace = Path(settings.workspace).expanduser().resolve()
        return settings

    @property
    def max_base64_bytes(self) -> int:
        return int(self.max_base64_mb * MB)

    @property
    def inline_max_bytes(self) -> int:
        return int(self.inline_max_mb * MB)

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * MB)

    @property
    def max_request_bytes(self) -> int:
        return int(self.max_request_mb * MB)


def _coerce(annotation: object, raw: str) -> object:
    kind = str(annotation)
    if "list" in kind:
        return _as_list(raw)
    if "bool" in kind:
        return _as_bool(raw)
    if "Path" in kind:
        return Path(raw)
    if "int" in kind:
        return int(raw)
    if "float" in kind:
        return float(raw)
    return raw
