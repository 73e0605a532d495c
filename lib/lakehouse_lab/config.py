"""Environment configuration: ``config/<env>.yaml`` in the course guide's shape, validated.

The environment decides the catalog and schema tables go to, the source (root) table, and the compute
size, which maps onto local Spark settings (cores of ``local[n]`` and shuffle partitions).

>>> from lakehouse_lab.config import load_config
>>> cfg = load_config("dev")
>>> cfg.database.catalog, cfg.compute.shuffle_partitions
('dev_catalog', 4)
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
    catalog: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    schema_name: str = Field("analytics", alias="schema", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class Storage(_Strict):
    root_table: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")


class Compute(_Strict):
    cluster_size: Literal["small", "medium", "large"] = "small"
    auto_terminate: bool = True

    @property
    def local_cores(self) -> int:
        return COMPUTE_SIZES[self.cluster_size][0]

    @property
    def shuffle_partitions(self) -> int:
        return COMPUTE_SIZES[self.cluster_size][1]

    def spark_settings(self) -> dict[str, str]:
        """The local Spark settings this size stands for, e.g. ``{'spark.sql.shuffle.partitions': '4', ...}``."""
        return {"spark.master": f"local[{self.local_cores}]",
                "spark.sql.shuffle.partitions": str(self.shuffle_partitions),
                "spark.default.parallelism": str(self.local_cores)}


class EnvironmentConfig(_Strict):
    environment: str
    database: Database
    storage: Storage
    compute: Compute = Compute()

    def as_dict(self) -> dict:
        """The config as the plain nested dict the guide's ``yaml.safe_load`` gives (``cfg['database']['catalog']``)."""
        return self.model_dump(by_alias=True)

    def source_table(self) -> str:
        """The root (source) table as a three-level name, e.g. ``dev_catalog.bronze.raw_orders``."""
        parts = self.storage.root_table.split(".")
        if len(parts) == 3:
            return self.storage.root_table
        if len(parts) == 2:
            return f"{self.database.catalog}.{self.storage.root_table}"
        return f"{self.database.catalog}.{self.database.schema_name}.{self.storage.root_table}"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td><code>{k}</code></td><td>{v}</td></tr>" for k, v in _flatten(self.as_dict()))
        return f"<table><tr><th>key</th><th>value</th></tr>{rows}</table>"


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
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _LOADED:  # a pipeline update asks nine times; parsing and validating each time cost ~15 ms
        _LOADED[key] = _parse(path)
    return _LOADED[key].model_copy(deep=True)


_LOADED: dict[tuple, "EnvironmentConfig"] = {}  # by (file, modification time, size): an edited file is read again


def _parse(path: Path) -> "EnvironmentConfig":
    text = path.read_text()
    raw = parse_yaml(text, path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys (environment, database, storage, compute).")
    try:
        return EnvironmentConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_validation(exc, path, text)) from None


def parse_yaml(text: str, path: Path | str):
    """``yaml.safe_load`` whose syntax errors become a ``ConfigError`` naming ``path``, line and column."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        raise ConfigError(f"{path}:{where} YAML syntax error: {getattr(exc, 'problem', exc)}") from None


def key_line(text: str, loc: tuple) -> int | None:
    """The 1-based line of the deepest key of ``loc`` (e.g. ``('database', 'catalog')``) found in ``text``."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def describe_validation(exc: ValidationError, path: Path | str, text: str) -> str:
    """One message for all of a model's problems: ``file: line N: key: what is wrong``."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        dotted = ".".join(str(p) for p in loc) or "(top level)"
        line = key_line(text, loc)
        where = f"line {line}: " if line else ""
        problems.append(f"{where}{dotted}: {err['msg']}")
    return f"{path}: " + "; ".join(problems)


def _flatten(data: dict, prefix: str = ""):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value
