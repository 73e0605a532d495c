"""A pipeline: its definitions loaded from ``.sql`` / ``.py`` files (or notebook cells), the dataflow graph
inferred from what each query reads, and validation before anything runs.

>>> from lakehouse_lab.pipelines.graph import Pipeline
>>> p = Pipeline.from_sql("demo", "CREATE OR REFRESH LIVE TABLE b AS SELECT x FROM LIVE.a;"
...                               "CREATE OR REFRESH LIVE TABLE a AS SELECT 1 AS x")
>>> sorted(p.datasets), p.datasets["b"].flows[0].line
(['a', 'b'], 1)
>>> p.analyse(spark, "dev_catalog", "analytics"); p.order()   # doctest: +SKIP
['a', 'b']

What each query reads is known once :meth:`Pipeline.analyse` has run Spark's parser over it; ``order`` and
``edges`` before that see no dependencies.
"""
from __future__ import annotations

import graphlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import python_api, sql_parser
from .model import Dataset, Flow, PipelineDefinitionError

_RELATION = re.compile(r"'UnresolvedRelation \[([^\]]*)\], \[[^\]]*\], (true|false)")
_CTE = re.compile(r"CTE \[([^\]]*)\]")


@dataclass
class Pipeline:
    """Named set of datasets and flows; ``configuration`` values are set as Spark conf during updates."""

    name: str
    datasets: dict[str, Dataset] = field(default_factory=dict)
    configuration: dict[str, str] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)

    # ---- building -------------------------------------------------------------------------------------
    def add(self, item: Dataset | Flow) -> None:
        if isinstance(item, Flow):
            if item.target not in self.datasets:
                raise PipelineDefinitionError(f"{item.file}:{item.line}: flow {item.name!r} writes into "
                                              f"{item.target!r}, which is not defined (declare it with "
                                              "CREATE OR REFRESH STREAMING TABLE / dp.create_streaming_table first)")
            target = self.datasets[item.target]
            if target.kind != "streaming_table":
                raise PipelineDefinitionError(f"{item.file}:{item.line}: flow {item.name!r} appends into "
                                              f"{item.target!r}, a {target.kind}; only streaming tables take "
                                              "more than one flow")
            self._check_flow_name(item)
            target.flows.append(item)
            return
        if item.name in self.datasets:
            first = self.datasets[item.name]
            raise PipelineDefinitionError(f"{item.file}:{item.line}: dataset {item.name!r} is defined twice "
                                          f"(first at {first.where}); two flows cannot both define a table")
        self.datasets[item.name] = item

    def _check_flow_name(self, flow: Flow) -> None:
        names = {f.name for d in self.datasets.values() for f in d.flows}
        if flow.name in names:
            raise PipelineDefinitionError(f"{flow.file}:{flow.line}: flow name {flow.name!r} is already used")

    def add_file(self, path: Path) -> None:
        path = Path(path)
        if path.suffix == ".sql":
            items = sql_parser.parse_sql(path.read_text(), str(path))
            self._add_all([i for i in items if isinstance(i, Dataset)] + [i for i in items if isinstance(i, Flow)])
        elif path.suffix == ".py":
            self.add_registry(python_api.load_python(path))
        else:
            raise PipelineDefinitionError(f"{path}: pipeline sources are .sql or .py files")
        self.sources.append(str(path))

    def add_registry(self, registry: python_api.Registry) -> None:
        self._add_all([*registry.datasets, *registry.flows])

    def _add_all(self, items) -> None:
        for item in items:
            self.add(item)

    @classmethod
    def load(cls, source, name: str | None = None, configuration: dict | None = None) -> "Pipeline":
        """From a folder (every ``.sql``/``.py`` inside, sorted), a file, or a list of files."""
        files = _files(source)
        pipeline = cls(name or _default_name(source), configuration=dict(configuration or {}))
        for f in files:
            pipeline.add_file(f)
        return pipeline

    @classmethod
    def from_sql(cls, name: str, text: str, file: str = "<sql>") -> "Pipeline":
        """From SQL text (e.g. a notebook string)."""
        pipeline = cls(name)
        items = sql_parser.parse_sql(text, file)
        pipeline._add_all([i for i in items if isinstance(i, Dataset)] + [i for i in items if isinstance(i, Flow)])
        return pipeline

    @classmethod
    def from_notebook(cls, name: str, clear: bool = True) -> "Pipeline":
        """From the ``@dp.…`` definitions made in this notebook's cells (then forgotten if ``clear``)."""
        pipeline = cls(name)
        registry = python_api.notebook_registry()
        pipeline.add_registry(registry)
        if clear:
            registry.clear()
        return pipeline

    # ---- graph ----------------------------------------------------------------------------------------
    def resolve_reference(self, parts: list[str], catalog: str, schema: str) -> str | None:
        """The pipeline dataset a relation name refers to (``LIVE.x``, ``x``, ``schema.x``, ``cat.schema.x``)."""
        lowered = [p.strip("`") for p in parts]
        names = {n.lower(): n for n in self.datasets}
        if len(lowered) == 2 and lowered[0].upper() == "LIVE":
            return names.get(lowered[1].lower(), "")
        if len(lowered) == 1:
            return names.get(lowered[0].lower())
        if len(lowered) == 2 and lowered[0].lower() == schema.lower():
            return names.get(lowered[1].lower())
        if len(lowered) == 3 and [p.lower() for p in lowered[:2]] == [catalog.lower(), schema.lower()]:
            return names.get(lowered[2].lower())
        return None

    def analyse(self, spark, catalog: str, schema: str) -> None:
        """Parse every SQL query with Spark's parser and record what each flow reads (file+line on error)."""
        for ds in self.datasets.values():
            for flow in ds.flows:
                if flow.sql is not None:
                    flow.reads = _sql_reads(spark, flow)

    def edges(self, catalog: str = "", schema: str = "") -> list[tuple[str, str, bool]]:
        """``(source, target dataset, streaming)``; a source outside the pipeline keeps its written name."""
        return [(source, ds.name, streaming) for ds in self.datasets.values() for flow in ds.flows
                for source, streaming in self.flow_inputs(ds, flow, catalog, schema)]

    def flow_inputs(self, ds: Dataset, flow: Flow, catalog: str = "", schema: str = "") -> list[tuple[str, bool]]:
        """``(source, streaming)`` for each read of ``flow`` (into ``ds``); raises on an unknown ``LIVE.x``."""
        found = []
        for written, streaming in flow.reads:
            parts = written.split(".")
            ref = self.resolve_reference(parts, catalog, schema)
            if ref == "":
                known = ", ".join(sorted(self.datasets)) or "none"
                where = f"{flow.file}:{_line_of(flow, parts[-1])}"
                raise PipelineDefinitionError(f"{where}: dataset {ds.name!r} reads {written}, which this "
                                              f"pipeline does not define (datasets: {known})")
            found.append((ref or written, streaming))
        return found

    def order(self, catalog: str = "", schema: str = "", validate: bool = True) -> list[str]:
        """Dataset names in dependency order; raises on unknown ``LIVE.x`` references and on cycles."""
        sorter = graphlib.TopologicalSorter({n: set() for n in self.datasets})
        for src, dst, _ in self.edges(catalog, schema):
            if src in self.datasets:
                sorter.add(dst, src)
        try:
            ordered = list(sorter.static_order())
        except graphlib.CycleError as exc:
            cycle = exc.args[1]
            where = "; ".join(f"{n} at {self.datasets[n].where}" for n in dict.fromkeys(cycle))
            raise PipelineDefinitionError(f"pipeline {self.name!r} has a cycle: {' -> '.join(cycle)} ({where})") from None
        if validate:
            self._check_kinds(catalog, schema)
        return ordered

    def _check_kinds(self, catalog: str, schema: str) -> None:
        for src, dst, streaming in self.edges(catalog, schema):
            ds = self.datasets[dst]
            if streaming and ds.kind == "materialized_view":
                raise PipelineDefinitionError(f"{ds.where}: materialized view {dst!r} reads STREAM({src}); "
                                              "declare it as a STREAMING TABLE or read without STREAM")
        for ds in self.datasets.values():
            if ds.kind == "streaming_table" and not ds.flows:
                raise PipelineDefinitionError(f"{ds.where}: streaming table {ds.name!r} has no query and no flow "
                                              "writing into it")


def _sql_reads(spark, flow: Flow) -> list[tuple[str, bool]]:
    parser = spark._jsparkSession.sessionState().sqlParser()
    try:
        plan = parser.parsePlan(flow.sql).toString()
    except Exception as exc:  # noqa: BLE001 - py4j wraps ParseException
        raise _parse_error(flow, exc) from None
    ctes = {name.strip() for group in _CTE.findall(plan) for name in group.split(",")}
    reads = []
    for parts, streaming in _RELATION.findall(plan):
        name = ".".join(p.strip() for p in parts.split(","))
        if name not in ctes:
            reads.append((name, streaming == "true"))
    return list(dict.fromkeys(reads))


def _parse_error(flow: Flow, exc: Exception) -> PipelineDefinitionError:
    text = str(exc)
    m = re.search(r"\(line (\d+), pos (\d+)\)", text)
    line = flow.line + (int(m.group(1)) - 1 if m else 0)
    lines = flow.sql.splitlines()
    offending = lines[int(m.group(1)) - 1].strip() if m and int(m.group(1)) <= len(lines) else flow.sql[:80]
    reason = text.split("\n")[0] if text.strip() else "syntax error"
    reason = re.sub(r"^.*?\[PARSE", "[PARSE", reason.strip() or text.strip().split("\n")[0])
    return PipelineDefinitionError(f"{flow.file}:{line}: syntax error in the query of {flow.target!r}: "
                                   f"{reason}\n    {offending}")


def _files(source) -> list[Path]:
    if isinstance(source, (list, tuple)):
        return [Path(s) for s in source]
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in {".sql", ".py"} and not p.name.startswith("_"))
        if not files:
            raise PipelineDefinitionError(f"{path}: no .sql or .py pipeline sources in this folder")
        return files
    if not path.exists():
        raise PipelineDefinitionError(f"{path}: no such pipeline file or folder")
    return [path]


def _default_name(source) -> str:
    first = Path(source[0] if isinstance(source, (list, tuple)) else source)
    stem = first.name if first.is_dir() else first.stem
    return re.sub(r"\W+", "_", stem).strip("_").lower() + "_pipeline"


def _line_of(flow, name: str) -> int:
    """The line of the flow's file where its SQL first names ``name`` (else the line its query starts on)."""
    found = re.search(rf"(?<![\w`]){re.escape(name.strip('`'))}(?![\w`])", flow.sql or "", re.IGNORECASE)
    return flow.line + (flow.sql[:found.start()].count("\n") if found else 0)
