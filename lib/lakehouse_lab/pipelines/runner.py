"""An update of a pipeline: validate, resolve every flow, run every dataset in dependency order, record the
event log.

>>> import lakehouse_lab as lab
>>> from lakehouse_lab.pipelines import run_pipeline
>>> update = run_pipeline("notebooks/pipelines/orders")          # doctest: +SKIP
>>> update.state, update.datasets["silver_orders"].rows_dropped  # doctest: +SKIP
('COMPLETED', 12)
"""
from __future__ import annotations

import datetime as dt
import re
import threading
import traceback
import uuid
from dataclasses import dataclass, field, replace

from .. import paths, run_context
from ..catalog import schema_folder, use
from ..expectations import ExpectationFailed
from ..parallel import Background
from . import incremental, ownership, preflight
from .event_log import EventBuffer
from .flows import DatasetResult, UpdateContext, run_dataset
from .graph import Pipeline
from .model import IDENTIFIER, PipelineDefinitionError

_NAMESPACE = uuid.UUID("5b0c7f52-5d1e-4a39-9a7e-0d1c1ab5e2a4")
# Updates share the session: its environment, current schema and temporary views (stand-ins, views). On
# Databricks each pipeline has a cluster of its own; here, updates started from several threads (a job's parallel
# pipeline tasks) run one after the other.
_ONE_AT_A_TIME = threading.RLock()
# Spark's error class when a stream's source Delta table is not the one its checkpoint read (dropped, re-created)
REPLACED_STREAM_SOURCE = "DIFFERENT_DELTA_TABLE_READ_BY_STREAMING_SOURCE"


class PipelineUpdateFailed(RuntimeError):
    """Raised by ``run_pipeline(..., raise_on_failure=True)`` when the update ends FAILED."""


@dataclass
class PipelineUpdate:
    """The outcome of one update: state, error, and per-dataset rows written / dropped / expectations."""

    pipeline_id: str
    pipeline_name: str
    update_id: str
    state: str
    error: str | None
    datasets: dict[str, DatasetResult]
    full_refresh: bool | list
    environment: str
    start_time: dt.datetime
    end_time: dt.datetime
    pipeline: Pipeline = field(repr=False)
    edges: list = field(default_factory=list, repr=False)
    validate_only: bool = False
    refresh_selection: list = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return (self.end_time - self.start_time).total_seconds()

    def summary(self) -> list[dict]:
        """One row per dataset: name, kind, status, rows written, dropped, failed expectations, error."""
        return [{"dataset": r.name, "kind": r.kind, "status": r.status, "rows_written": r.rows_written,
                 "rows_dropped": r.rows_dropped, "refresh": r.technique,
                 "failed_expectations": {e["name"]: e["failed_records"] for e in r.expectations if e["failed_records"]},
                 "seconds": round(r.duration_s, 2), "error": r.error} for r in self.datasets.values()]

    def to_dict(self) -> dict:
        return {"pipeline_id": self.pipeline_id, "pipeline_name": self.pipeline_name, "update_id": self.update_id,
                "state": self.state, "error": self.error, "environment": self.environment,
                "full_refresh": self.full_refresh, "refresh_selection": self.refresh_selection,
                "validate_only": self.validate_only, "start_time": self.start_time.isoformat(),
                "end_time": self.end_time.isoformat(), "datasets": self.summary()}

    def graph(self):
        """The dataflow graph coloured by layer and this update's status (a ``graphviz.Digraph``)."""
        from .display import pipeline_graph

        return pipeline_graph(self.pipeline, self.edges, self.datasets)

    def _repr_html_(self) -> str:
        from .display import update_html

        return update_html(self)


def pipeline_id_for(name: str, catalog: str, schema: str) -> str:
    """A stable id for a pipeline publishing into ``catalog.schema``."""
    return str(uuid.uuid5(_NAMESPACE, f"{catalog}.{schema}.{name}"))


def _selection(pipeline: Pipeline, full_refresh, option: str = "full_refresh") -> set[str]:
    if full_refresh is True:
        return set(pipeline.datasets)
    if not full_refresh:
        return set()
    names = [full_refresh] if isinstance(full_refresh, str) else list(full_refresh)
    unknown = [n for n in names if n not in pipeline.datasets]
    if unknown:
        raise PipelineDefinitionError(f"{option} names {unknown} not in pipeline {pipeline.name!r} "
                                      f"(datasets: {', '.join(sorted(pipeline.datasets))})")
    return set(names)


def _run_set(pipeline: Pipeline, order: list, edges, refresh: set, refresh_selection, full_refresh) -> list[str]:
    """The datasets this update runs, in order: all of them, or when tables are selected (``refresh_selection``,
    a ``full_refresh`` list) those, with the temporary views they read (views are not stored)."""
    if not refresh_selection and (isinstance(full_refresh, bool) or not full_refresh):
        return order  # nothing named (empty lists included): the whole graph, as on Databricks
    if full_refresh is True:
        raise PipelineDefinitionError("full_refresh=True refreshes every dataset; to refresh some and fully "
                                      "refresh others, give full_refresh a list of tables")
    selected = refresh | _selection(pipeline, refresh_selection or [], "refresh_selection")
    views = {n for n, ds in pipeline.datasets.items() if ds.kind == "view"}
    pending = list(selected)
    while pending:
        name = pending.pop()
        for src, dst, _ in edges:
            if dst == name and src in views and src not in selected:
                selected.add(src)
                pending.append(src)
    return [name for name in order if name in selected]


def run_pipeline(source, *, env: str | None = None, full_refresh: bool | list = False, name: str | None = None,
                 configuration: dict | None = None, raise_on_failure: bool = False,
                 schema: str | None = None, validate_only: bool = False,
                 refresh_selection: list | None = None) -> PipelineUpdate:
    """Run one update of the pipeline in ``source`` (folder, file, list of files or :class:`Pipeline`).

    Definition errors (syntax, unknown ``LIVE.x``, cycles) raise :class:`PipelineDefinitionError` before
    anything is written. A query that parses but does not resolve (``preflight``) ends the update ``FAILED``
    before anything is written. A failing dataset (e.g. ``ON VIOLATION FAIL UPDATE``) ends the update ``FAILED``;
    datasets downstream of it are skipped, the others still run. ``schema`` publishes into another schema of the
    environment's catalog (default: the environment's schema, e.g. ``dev_catalog.analytics``).

    ``refresh_selection`` (as on Databricks): update only these tables, and fully refresh those ``full_refresh``
    lists; the other datasets are ``EXCLUDED``, and a selected one reads them as they are.

    ``validate_only`` (Databricks' *validate* update): resolve every flow, run none, write no dataset; the update
    (``COMPLETED`` or ``FAILED``) and its events are still recorded. Datasets end ``VALIDATED``, ``FAILED``, or
    ``SKIPPED`` when they can only be checked by running (see ``preflight``).
    """
    import lakehouse_lab as lab

    with _ONE_AT_A_TIME:
        previous_env = lab.current_env()
        spark = lab.start(env)
        try:
            return _run(spark, source, env or previous_env, full_refresh, name, configuration, raise_on_failure,
                        schema, validate_only, refresh_selection)
        finally:
            lab.start(previous_env)  # also restores the current schema


def _run(spark, source, env, full_refresh, name, configuration, raise_on_failure, schema,
         validate_only, refresh_selection) -> PipelineUpdate:
    import lakehouse_lab as lab

    cfg = lab.current_config()
    catalog, schema = cfg.database.catalog, schema or cfg.database.schema_name
    if not IDENTIFIER.fullmatch(schema):
        raise PipelineDefinitionError(f"schema {schema!r} is not a plain identifier (letters, digits, _)")
    if not schema_folder(catalog, schema).is_dir():  # the target schema is created, as on Databricks
        spark.sql("CREATE SCHEMA IF NOT EXISTS IDENTIFIER(:s)", args={"s": f"`{catalog}`.`{schema}`"})
    use(spark, catalog, schema)
    pipeline = source if isinstance(source, Pipeline) else Pipeline.load(source, name=name)
    if name:
        pipeline.name = name
    pipeline.configuration.update(configuration or {})
    pipeline.analyse(spark, catalog, schema)
    order = pipeline.order(catalog, schema)
    edges = pipeline.edges(catalog, schema)
    refresh = _selection(pipeline, full_refresh)
    selected = _run_set(pipeline, order, edges, refresh, refresh_selection, full_refresh)
    pid, uid = pipeline_id_for(pipeline.name, catalog, schema), str(uuid.uuid4())
    ctx = UpdateContext(spark, pipeline, catalog, schema, uid,
                        paths.under(paths.lab_root(), "pipelines", f"{catalog}.{schema}", pipeline.name, "checkpoints"),
                        pipeline.configuration, pipeline_id=pid)
    events = EventBuffer(pid, pipeline.name, uid, catalog, schema, env)
    start = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    results = {n: DatasetResult(n, pipeline.datasets[n].kind or "table", None) for n in order}
    with Background(spark) as ctx.background:
        with run_context.entity("PIPELINE", pid, uid, spark=spark), _conf(spark, pipeline.configuration):
            if not validate_only:
                _prepare_writes(ctx, pipeline, selected, refresh)
            resolution = preflight.check(ctx, selected, edges)
            _learn_kinds(ctx, results, resolution.kinds)
            _start_events(events, pipeline, order, refresh, env, validate_only, refresh_selection)
            _exclude(events, results, order, selected)
            claims = ownership.check(ctx, selected)
            problems = {**{name: _unresolved_text(ctx, found) for name, found in resolution.unresolved.items()},
                        **claims.conflicts}
            if problems or validate_only:
                error = _record_setup(ctx, events, results, selected, problems, resolution.resolved, validate_only)
            else:
                ownership.claim(ctx, claims.unmarked)
                events.add("update_progress", f"Update {uid[:6]} is RUNNING.", {"state": "RUNNING"})
                error = _run_datasets(ctx, events, selected, edges, refresh, results)
            _drop_views(spark, pipeline)
        state = "FAILED" if error else "COMPLETED"
        events.add("update_progress", f"Update {uid[:6]} is {state}.", {"state": state},
                   level="ERROR" if error else "INFO", error=error)
        end = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        events.flush(spark, {"pipeline_id": pid, "pipeline_name": pipeline.name, "update_id": uid, "state": state,
                             "start_time": start, "end_time": end, "full_refresh": bool(refresh),
                             "full_refresh_selection": ",".join(sorted(refresh)) or None, "environment": env,
                             "catalog": catalog, "schema": schema, "error_message": error,
                             "created_by": run_context.current().created_by})
    update = PipelineUpdate(pid, pipeline.name, uid, state, error, results,
                            full_refresh if isinstance(full_refresh, bool) else sorted(refresh), env, start, end,
                            pipeline, edges, validate_only, sorted(refresh_selection or []))
    if error and raise_on_failure:
        raise PipelineUpdateFailed(f"pipeline {pipeline.name!r} update {uid} FAILED: {error}")
    return update


def _run_datasets(ctx: UpdateContext, events: EventBuffer, order, edges, refresh: set, results: dict) -> str | None:
    """Run the datasets in ``order``, skipping those downstream of a failure; the update's first error."""
    error, not_done = None, set()
    for dataset_name in order:
        if any(src in not_done for src, dst, _ in edges if dst == dataset_name):
            results[dataset_name].status = "SKIPPED"
            events.add("flow_progress", f"Flow '{dataset_name}' is SKIPPED: an upstream dataset failed.",
                       {"status": "SKIPPED"}, flow=dataset_name)
            not_done.add(dataset_name)
            continue
        result, failure = _run_one(ctx, events, ctx.pipeline.datasets[dataset_name], dataset_name in refresh)
        results[dataset_name] = result
        if failure:
            error = error or failure  # the update reports its first failure
            not_done.add(dataset_name)
    return error


def _record_setup(ctx: UpdateContext, events: EventBuffer, results: dict, order, problems: dict, resolved,
                  validate_only: bool) -> str | None:
    """An update that runs no dataset: one whose tables cannot all be set up, or a validation. Datasets with a
    problem (a flow that does not resolve, a table of another pipeline) are FAILED, resolved ones VALIDATED (in a
    validation), the others SKIPPED; returns the first problem, the update's error."""
    for name in order:
        if name in problems:
            results[name] = _failed(events, ctx.pipeline.datasets[name], problems[name], None)[0]
        elif validate_only and name in resolved:
            results[name].status = "VALIDATED"
        else:
            results[name].status = "SKIPPED"
            why = "the update failed while setting up its tables" if problems else "only running it checks it"
            events.add("flow_progress", f"Flow '{name}' is SKIPPED: {why}.", {"status": "SKIPPED"}, flow=name)
    return next((problems[name] for name in order if name in problems), None)


def _unresolved_text(ctx: UpdateContext, found: preflight.Unresolved) -> str:
    return str(replace(found, message=found.message + _missing_source_hint(ctx, found.error)))


def _exclude(events: EventBuffer, results: dict, order, selected: list) -> None:
    """Datasets outside a refresh selection do not run: EXCLUDED, as on Databricks."""
    for name in order:
        if name not in selected:
            results[name].status = "EXCLUDED"
            events.add("flow_progress", f"Flow '{name}' is EXCLUDED: not in the refresh selection.",
                       {"status": "EXCLUDED"}, flow=name)


def _prepare_writes(ctx: UpdateContext, pipeline: Pipeline, order, refresh: set) -> None:
    """Have the table state built, in the background and in the order of the update, for the overwrites that
    will need it (an overwrite lists the files it replaces): a materialized view's, unless its last refresh kept
    it up to date by appends alone or its latest commit names every file (``TableLog.replace_rows``), and a fully
    refreshed streaming table's. Built while the datasets before it run, it is ready when its write comes (it
    would not be, started at the write)."""
    for name in order:
        kind = pipeline.datasets[name].kind
        appends_only = name not in refresh and (incremental.load(ctx, name) or {}).get("technique") == "APPEND_ONLY"
        if kind == "materialized_view" and not appends_only:
            ctx.prepare_write(name, quick=True)
        elif kind == "streaming_table" and name in refresh:
            ctx.prepare_write(name)


def _learn_kinds(ctx: UpdateContext, results: dict, kinds: dict) -> None:
    """Python ``@dp.table`` datasets take the kind their query gave when it was resolved (events, summary, the
    ownership message)."""
    for name, kind in kinds.items():
        ctx.pipeline.datasets[name].kind = results[name].kind = kind


def _start_events(events: EventBuffer, pipeline: Pipeline, order, refresh, env, validate_only: bool,
                  refresh_selection) -> None:
    events.add("create_update", f"Update {events.update_id[:6]} started by API call.",
               {"cause": "API_CALL", "full_refresh": bool(refresh), "full_refresh_selection": sorted(refresh),
                "refresh_selection": sorted(refresh_selection or []), "validate_only": validate_only,
                "environment": env, "sources": pipeline.sources})
    for state in ("QUEUED", "INITIALIZING", "SETTING_UP_TABLES"):
        events.add("update_progress", f"Update {events.update_id[:6]} is {state}.", {"state": state})
    for name in order:
        ds = pipeline.datasets[name]
        for flow in ds.flows:
            inputs = sorted({src for src, _ in pipeline.flow_inputs(ds, flow, events.catalog, events.schema)})
            events.add("flow_definition", f"Flow '{flow.name}' is defined as {flow.language}.",
                       {"output_dataset": ds.name, "input_datasets": inputs, "flow_type": ds.kind or "table",
                        "language": flow.language, "expectations": [e.__dict__ for e in ds.expectations],
                        "source": f"{flow.file}:{flow.line}"}, flow=flow.name, dataset=ds.name)


def _run_one(ctx: UpdateContext, events: EventBuffer, ds, refresh: bool) -> tuple[DatasetResult, str | None]:
    for flow in ds.flows:
        for status in ("QUEUED", "STARTING", "RUNNING"):
            events.add("flow_progress", f"Flow '{flow.name}' is {status}.", {"status": status}, flow=flow.name,
                       dataset=ds.name)
    try:
        result = run_dataset(ctx, ds, refresh)
    except ExpectationFailed as exc:
        return _failed(events, ds, str(exc), exc.expectation.name)
    except PipelineDefinitionError as exc:
        text = str(exc) if re.match(r"\S+:\d+: ", str(exc)) else f"dataset {ds.name!r} ({ds.where}): {exc}"
        return _failed(events, ds, text, None)
    except Exception as exc:  # noqa: BLE001 - any Spark error fails this flow and the update
        if REPLACED_STREAM_SOURCE in str(exc):
            return _failed(events, ds, _replaced_source_text(ctx, ds), None)
        first, _, rest = "".join(traceback.format_exception_only(type(exc), exc)).strip().partition("\n")
        text = f"dataset {ds.name!r} ({ds.where}) failed: {first}{_missing_source_hint(ctx, exc)}\n{rest}"
        return _failed(events, ds, text.strip()[:4000], None)
    if result.technique:
        plan = incremental.Plan(result.technique, result.technique_reason)
        events.add("planning_information", f"Flow '{ds.name}' has been planned to be executed as "
                   f"{result.technique}.", plan.event_details(), flow=ds.name)
    for flow in result.flows or [result]:  # one event per flow of a streaming table written by several
        details = {"status": "COMPLETED", "metrics": {"num_output_rows": flow.rows_written,
                                                      "num_input_rows": flow.num_input_rows}}
        if ds.expectations:
            details["data_quality"] = flow.data_quality()
        events.add("flow_progress", f"Flow '{flow.name}' has COMPLETED.", details, flow=flow.name,
                   dataset=ds.name, level="METRICS" if ds.expectations else "INFO")
    return result, None


def _replaced_source_text(ctx: UpdateContext, ds) -> str:
    """A table the streaming table reads was dropped and re-created: what happened and the way on. Spark's own
    text (an unknown table id, a query plan, "delete your checkpoint") names neither the table nor the remedy."""
    sources = sorted({_three_part(ctx, src) for flow in ds.flows
                      for src, streaming in ctx.pipeline.flow_inputs(ds, flow, ctx.catalog, ctx.schema) if streaming})
    return (f"dataset {ds.name!r} ({ds.where}) failed: [{REPLACED_STREAM_SOURCE}] a table it streams from "
            f"({', '.join(sources)}) was dropped and re-created since the streaming table last read it; its "
            f"checkpoint still points at the old table. As on Databricks, fully refresh the streaming table to read "
            f"the new one from its start: `--full-refresh {ds.name}` on `lakehouse-lab pipeline run`, or "
            f"`full_refresh=[{ds.name!r}]` in `run_pipeline`.")


def _three_part(ctx: UpdateContext, name: str) -> str:
    """``name`` as the update reads it: in its catalog (``bronze.raw_orders`` is ``dev_catalog.bronze.raw_orders``)
    and, for one part, in its schema."""
    missing = 3 - len(name.split("."))
    return ".".join([ctx.catalog, ctx.schema][:missing] + [name]) if missing > 0 else name


def _missing_source_hint(ctx: UpdateContext, exc: Exception) -> str:
    """For a table that is not there: what the catalog does hold, and that sources come before the pipeline."""
    from ..catalog import explain_not_found

    found = explain_not_found(ctx.spark, exc, ctx.catalog, ctx.schema)
    return f" {found} Tables a pipeline reads from outside it must exist before it runs." if found else ""


def _failed(events: EventBuffer, ds, message: str, expectation: str | None):
    events.add("flow_progress", f"Flow '{ds.name}' has FAILED.",
               {"status": "FAILED", "failed_expectation": expectation}, level="ERROR", flow=ds.name, error=message)
    result = DatasetResult(ds.name, ds.kind or "table", None, status="FAILED", error=message)
    return result, message


class _conf:
    """Set the pipeline's configuration as Spark conf for the update, then restore."""

    def __init__(self, spark, values: dict):
        self.spark, self.values, self.saved = spark, values, {}

    def __enter__(self):
        for key, value in self.values.items():
            self.saved[key] = self.spark.conf.get(key, None)
            self.spark.conf.set(key, str(value))

    def __exit__(self, *exc):
        for key, value in self.saved.items():
            if value is None:
                self.spark.conf.unset(key)
            else:
                self.spark.conf.set(key, value)


def _drop_views(spark, pipeline: Pipeline) -> None:
    for ds in pipeline.datasets.values():
        if ds.kind == "view":
            spark.catalog.dropTempView(ds.name)
