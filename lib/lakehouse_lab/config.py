"""Environment configuration: ``config/<env>.yaml`` in the course guide's shape, validated.

>>> from lakehouse_lab.config import load_config
>>> load_config("dev").database.catalog
'dev_catalog'
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import paths

# How a config's compute size maps onto the local machine (cores for local[n], shuffle partitions).
COMPUTE_SIZES = {"small": (2, 4), "medium": (2, 4), "large": (2, 8)}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Database(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    catalog: str
    schema_name: str = Field("analytics", alias="schema")


class Storage(_Strict):
    root_table: str


class Compute(_Strict):
    cluster_size: Literal["small", "medium", "large"] = "small"
    auto_terminate: bool = True

    @property
    def local_cores(self) -> int:
        return COMPUTE_SIZES[self.cluster_size][0]

    @property
    def shuffle_partitions(self) -> int:
        return COMPUTE_SIZES[self.cluster_size][1]


class EnvironmentConfig(_Strict):
    environment: str
    database: Database
    storage: Storage
    compute: Compute = Compute()


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, the key and the fix."""


def environments(config_dir: Path | None = None) -> list[str]:
    """The environments that have a config file, e.g. ``['dev', 'prod', 'staging']``."""
    return sorted(p.stem for p in (config_dir or paths.config_dir()).glob("*.yaml"))


def load_config(env: str, config_dir: Path | None = None) -> EnvironmentConfig:
    """Load and validate ``config/<env>.yaml``; errors name the file, the line or key, and the choices."""
    folder = config_dir or paths.config_dir()
    known = environments(folder)
    if env not in known:
        raise ConfigError(f"Unknown environment {env!r}. Valid environments: {', '.join(known) or 'none'} "
                          f"(files in {folder}).")
    path = folder / f"{env}.yaml"
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}:{where}: YAML syntax error: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys (environment, database, storage, compute).")
    try:
        return EnvironmentConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None
