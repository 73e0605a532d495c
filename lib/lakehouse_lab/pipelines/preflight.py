"""Resolving every flow of an update before it writes anything, as Databricks does while an update is
``SETTING_UP_TABLES``.

Datasets are analysed in dependency order. A dataset's reads of the datasets before it resolve to stand-ins:
temporary views named like them, with the columns their own queries (and expectations) produce and no rows —
streaming when some flow reads the dataset as a stream. Nothing runs and nothing is written, so a query that
parses but cannot resolve (an unknown column, a table that does not exist, a function that does not exist)
fails the update with every dataset untouched, instead of failing after the datasets before it were written.

Not checked here, and checked when the dataset runs as before: datasets downstream of one that failed, flows
that read a pipeline dataset by a qualified name (``schema.table``: the table may not exist before the first
update), and Python functions that fail for reasons other than analysis (e.g. an action on a stand-in).

>>> resolution = check(ctx, order, edges)   # doctest: +SKIP
>>> resolution.resolved                   # doctest: +SKIP
['bronze', 'silver']
>>> print(resolution.unresolved["gold"])   # doctest: +SKIP
gold.sql:6: dataset 'gold' cannot be resolved: [UNRESOLVED_COLUMN.WITH_SUGGESTION] A column … with name `amout`
cannot be resolved. Did you mean one of the following? [`amount`, `id`]. SQLSTATE: 42703
    SUM(amout) AS total
"""
from __future__ import annotations

import re
import traceback
from dataclasses import dataclass, field

from .. import expectations as ex
from ..frames import empty_frame
from .flows import UpdateContext, build_dataframe
from .model import Dataset, Flow, PipelineDefinitionError

_POSITION = re.compile(r";?\s*line (\d+) pos \d+;?$", re.M)
_WHERE = re.compile(r"(\S+:\d+): ")


@dataclass
class Unresolved:
    """A flow that cannot be resolved: where (``file:line``), and Spark's message (one line)."""

    dataset: str
    where: str
    message: str
    error: Exception
    text: str = ""  # the definition's line it points at

    def __str__(self) -> str:
        shown = f"\n    {self.text}" if self.text else ""
        return f"{self.where}: dataset {self.dataset!r} cannot be resolved: {self.message}{shown}"


@dataclass
class Resolution:
    """The datasets whose flows all resolved, in order, and those that cannot be resolved, by name (the others
    were not checked: see the module docstring)."""

    resolved: list[str]
    unresolved: dict[str, Unresolved]
    kinds: dict[str, str] = field(default_factory=dict)  # Python ``@dp.table`` datasets: the kind their query gives


def check(ctx: UpdateContext, order: list[str], edges: list) -> Resolution:
    """Analyse the flows of every dataset in ``order`` (those the update runs), each against stand-ins of the
    datasets it reads; a dataset outside ``order`` is read as its table is."""
    streamed = {src for src, _, streaming in edges if streaming}
    read = {src for src, _, _ in edges}
    failed: dict[str, Unresolved] = {}
    resolved: list[str] = []
    kinds: dict[str, str] = {}
    stand_ins: list[str] = []
    resolve = _resolver(ctx, stand_ins)
    try:
        for name in order:
            ds = ctx.pipeline.datasets[name]
            upstream = {src for src, dst, _ in edges if dst == name and src in order}  # others: read as stored
            if upstream - set(resolved) or _reads_by_qualified_name(ctx, ds):
                continue
            columns, streams, unresolved = _check_dataset(ctx, ds, resolve)
            if unresolved:
                failed[name] = unresolved
            elif columns is not None:
                resolved.append(name)
                if ds.kind is None:  # @dp.table: a streaming table when its query streams
                    kinds[name] = "streaming_table" if streams else "materialized_view"
                if name in read:  # a dataset nothing reads needs no stand-in
                    _stand_in(ctx.spark, columns, streaming=name in streamed).createOrReplaceTempView(ds.name)
                    stand_ins.append(name)
    finally:
        for name in stand_ins:
            ctx.spark.catalog.dropTempView(ctx.pipeline.datasets[name].name)
    return Resolution(resolved, failed, kinds)


def _resolver(ctx: UpdateContext, stand_ins: list[str]):
    """Reads of a dataset that has a stand-in go to it; other names resolve as in the update."""
    def resolve(name: str) -> str:
        ds = ctx.dataset(name)
        return f"`{ds.name}`" if ds is not None and ds.name in stand_ins else ctx.resolve(name)
    return resolve


def _reads_by_qualified_name(ctx: UpdateContext, ds: Dataset) -> bool:
    for flow in ds.flows:
        for written, _ in flow.reads:
            parts = written.split(".")
            if len(parts) > 1 and parts[0].strip("`").upper() != "LIVE" \
                    and ctx.pipeline.resolve_reference(parts, ctx.catalog, ctx.schema):
                return True
    return False


def _check_dataset(ctx: UpdateContext, ds: Dataset, resolve):
    """``(columns, streams, None)``: the columns ``ds`` would hold and whether its first flow's query streams
    (``None`` when not known), every flow and expectation analysed; or ``(None, None, Unresolved)``."""
    from pyspark.errors import AnalysisException

    columns = streams = None
    for flow in ds.flows:
        try:
            df = build_dataframe(ctx, flow, resolve)
            streams = df.isStreaming if streams is None else streams
            if ds.expectations:
                df = ex.apply(df, ds.expectations, ds.name, observe=False).df
            schema = df.schema  # every flow analysed, the first one's columns kept
            columns = columns or schema
        except (AnalysisException, PipelineDefinitionError) as exc:
            return None, None, _unresolved(ds, flow, exc)
        except Exception:  # noqa: BLE001 - not an analysis error: the dataset's own run will tell
            return None, None, None
    return columns, streams, None


def _stand_in(spark, columns, streaming: bool):
    """No rows, ``columns``' names and types; a streaming DataFrame when ``streaming``."""
    from pyspark.sql import functions as F

    if not streaming:
        return empty_frame(spark, columns)
    return spark.readStream.format("rate").load().select(*[F.lit(None).cast(c.dataType).alias(c.name)
                                                           for c in columns])


def _unresolved(ds: Dataset, flow: Flow, exc: Exception) -> Unresolved:
    """Spark's message without the plan it appends, placed at the line of the definition it points at."""
    first = str(exc).strip().split("\n")[0]
    where = _WHERE.match(first)
    if where:  # a PipelineDefinitionError that names its place
        return Unresolved(ds.name, where.group(1), first[where.end():], exc)
    line, text, position = flow.line, "", _POSITION.search(str(exc))  # "…SQLSTATE: 42703; line 2 pos 7;"
    if position and flow.sql is not None:
        line += int(position.group(1)) - 1
        text = flow.sql.splitlines()[int(position.group(1)) - 1].strip()
    first = _POSITION.sub("", first)
    if flow.sql is None:  # the line of the function that made the failing call
        line = next((t.lineno for t in reversed(traceback.extract_tb(exc.__traceback__)) if t.filename == flow.file),
                    line)
    return Unresolved(ds.name, f"{flow.file}:{line}", first.rstrip(" ;"), exc, text)
