"""What a pipeline is made of: datasets (streaming tables, materialized views, views) and the flows into them.

>>> from lakehouse_lab.pipelines.model import Dataset
>>> Dataset("silver_orders", "materialized_view", sql="SELECT 1").is_stored
True
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

KINDS = ("streaming_table", "materialized_view", "view")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
QUARANTINE_PROPERTY = "pipelines.quarantine"
OWNER_PROPERTY = "pipelines.pipelineId"  # the id of the pipeline a table belongs to (see ``ownership``)


class PipelineDefinitionError(ValueError):
    """A definition that cannot run: names the file, line and dataset, and what to change."""


@dataclass
class Flow:
    """A query writing into a dataset. A dataset's own query is its default flow (same name);
    ``@dp.append_flow`` adds more flows into a streaming table."""

    name: str
    target: str
    sql: str | None = None
    function: Callable | None = None
    reads: list[tuple[str, bool]] = field(default_factory=list)  # (name as written, is streaming read)
    file: str = "<cell>"
    line: int = 1

    @property
    def language(self) -> str:
        return "SQL" if self.sql is not None else "PYTHON"


@dataclass
class Dataset:
    """A named output of a pipeline. ``kind`` is ``streaming_table``, ``materialized_view`` or ``view``;
    ``kind=None`` on a Python ``@dp.table`` means "decided by whether its query is streaming"."""

    name: str
    kind: str | None
    sql: str | None = None
    function: Callable | None = None
    expectations: list = field(default_factory=list)
    comment: str | None = None
    table_properties: dict = field(default_factory=dict)
    partition_cols: list | None = None
    file: str = "<cell>"
    line: int = 1
    text: str = ""
    flows: list[Flow] = field(default_factory=list)

    def __post_init__(self):
        if not IDENTIFIER.fullmatch(self.name or ""):
            raise PipelineDefinitionError(f"{self.file}:{self.line}: dataset name {self.name!r} must be a plain "
                                          "identifier (letters, digits, _): the pipeline's catalog and schema "
                                          "come from the environment")
        if self.kind is not None and self.kind not in KINDS:
            raise PipelineDefinitionError(f"{self.file}:{self.line}: dataset {self.name!r} has unknown kind "
                                          f"{self.kind!r} (expected one of {KINDS})")
        if not self.flows and (self.sql is not None or self.function is not None):
            self.flows.append(Flow(self.name, self.name, self.sql, self.function, file=self.file, line=self.line))

    @property
    def is_stored(self) -> bool:
        return self.kind != "view"

    @property
    def quarantine(self) -> bool:
        return str(self.table_properties.get(QUARANTINE_PROPERTY, "false")).lower() == "true"

    @property
    def layer(self) -> str:
        """``bronze`` / ``silver`` / ``gold`` from the name (as in the course), else ``other``."""
        for layer in ("bronze", "silver", "gold"):
            if self.name.lower().startswith(layer) or f"_{layer}" in self.name.lower():
                return layer
        return "other"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"
