"""Incremental refresh of materialized views: process what the sources appended, not everything again.

A materialized view always holds what its query returns in batch. After each refresh the engine keeps, next to
the pipeline's checkpoints, a small record per view (``refresh_state.json``): a fingerprint of the definition,
the Delta table id and version of every source it read and of the view itself. The next refresh picks one
technique, named as in Databricks' ``planning_information`` events:

* ``NO_OP`` — no source changed since the last refresh: nothing is read or written;
* ``APPEND_ONLY`` — the query filters and projects one source, which only appended: the query runs over the
  appended rows alone (the files the appends added, as Delta's change data feed would give them) and they are
  appended to the view;
* ``GROUP_AGGREGATE`` — a SQL ``GROUP BY`` with COUNT/SUM/MIN/MAX/AVG over one source, which only appended:
  partial aggregates of the new rows are merged into a per-group state (Parquet snapshots in the pipeline's
  storage) and the view is rewritten from it — one row per group instead of one per source row;
* ``COMPLETE_RECOMPUTE`` — anything else (first run, full refresh, a changed definition, a source that was
  rewritten, deleted from or re-created, a query over several sources, non-deterministic or
  ``current_timestamp()`` queries, ``current_date()`` on a new day), with the reason.

Pipeline tables are created with ``delta.enableChangeDataFeed = true``, which an incremental refresh requires of
its source: when append commits carry more than added files (row tracking's domain metadata, for instance), the
new rows are read from the change data feed.

>>> Plan("COMPLETE_RECOMPUTE", "first refresh").maintenance_type
'MAINTENANCE_TYPE_COMPLETE_RECOMPUTE'
"""
from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import aggregates

STATE_FILE = "refresh_state.json"
CHANGE_FEED = "delta.enableChangeDataFeed"
_APPENDS = {"WRITE": ("mode", "Append"), "STREAMING UPDATE": ("outputMode", "Append")}
_NO_DATA_CHANGE = {"OPTIMIZE"}
_ROW_WISE = {"Project", "Filter", "SubqueryAlias"}
_CLOCK = re.compile(r"\b(current_timestamp|now|localtimestamp|current_time)\(", re.I)
_TODAY = re.compile(r"\b(current_date|curdate)\(", re.I)


@dataclass
class Plan:
    """How one refresh of a materialized view runs."""

    technique: str                               # NO_OP | APPEND_ONLY | GROUP_AGGREGATE | COMPLETE_RECOMPUTE
    reason: str | None = None                    # why not incremental (COMPLETE_RECOMPUTE)
    changes: dict = field(default_factory=dict)  # source full name -> (first new version, last version)
    kept: dict = field(default_factory=dict)     # the record of the last refresh (``refresh_state.json``)

    @property
    def maintenance_type(self) -> str:
        return f"MAINTENANCE_TYPE_{self.technique}"

    def event_details(self) -> dict:
        chosen = {"maintenance_type": self.maintenance_type, "is_chosen": True, "is_applicable": True}
        if self.reason:
            chosen["incrementalization_issues"] = [self.reason]
        return {"technique_information": [chosen]}


@dataclass
class Shape:
    """What the view's query allows: its sources and the incremental technique it qualifies for."""

    sources: list[str]          # three-level names of the pipeline tables it reads
    technique: str | None       # APPEND_ONLY | GROUP_AGGREGATE | None (then only NO_OP, else recompute)
    reason: str | None
    fingerprint: str
    uses_today: bool


def state_path(ctx, name: str) -> Path:
    return ctx.checkpoint_root / name / STATE_FILE


def aggregate_state_path(ctx, name: str) -> Path:
    return ctx.checkpoint_root / name / "aggregate_state"


# ---------------------------------------------------------------- what the query is
def describe(ctx, ds, df, sql: str | None) -> tuple[Shape | None, str | None]:
    """The sources and technique ``ds``'s query ``df`` allows (``sql``: its text, for SQL definitions), or
    ``(None, reason)`` when no refresh of it can be skipped or made incremental."""
    if len(ds.flows) != 1:
        return None, "the view has more than one flow"
    analyzed = df._jdf.queryExecution().analyzed()
    text = analyzed.toString()
    if _CLOCK.search(text):
        return None, "the query reads the clock (current_timestamp() or similar)"
    if not analyzed.deterministic():
        return None, "the query is not deterministic"
    sources = []
    for written, _ in ds.flows[0].reads:
        ref = ctx.pipeline.resolve_reference(written.split("."), ctx.catalog, ctx.schema)
        if not ref or not ctx.pipeline.datasets[ref].is_stored:
            return None, f"the query reads {written}, which is not a table of this pipeline"
        sources.append(ctx.full_name(ref))
    nodes, leaves = _plan_nodes(analyzed)  # not the optimized plan: optimizing a Delta scan lists its files
    if leaves != len(sources) or not sources:
        return None, "the query reads tables the engine cannot follow (not through LIVE / dlt.read, or twice)"
    fingerprint, uses_today = _fingerprint(ds, df, sql), bool(_TODAY.search(text))
    if len(sources) > 1:
        return Shape(sources, None, "the query reads more than one source", fingerprint, uses_today), None
    if nodes <= _ROW_WISE:
        return Shape(sources, "APPEND_ONLY", None, fingerprint, uses_today), None
    try:
        if sql is None:
            raise aggregates.NotIncremental("only SQL aggregates are maintained incrementally")
        aggregates.rewrite(sql)
    except aggregates.NotIncremental as exc:
        return Shape(sources, None, str(exc), fingerprint, uses_today), None
    return Shape(sources, "GROUP_AGGREGATE", None, fingerprint, uses_today), None


def _plan_nodes(plan) -> tuple[set, int]:
    """Names of the inner nodes of a Catalyst plan, and how many leaves it has."""
    inner, leaves, stack = set(), 0, [plan]
    while stack:
        node = stack.pop()
        children = node.children()
        if children.size() == 0:
            leaves += 1
            continue
        inner.add(node.nodeName())
        stack.extend(children.apply(i) for i in range(children.size()))
    return inner, leaves


def _fingerprint(ds, df, sql: str | None) -> str:
    flow = ds.flows[0]
    if sql is None:
        try:
            sql = inspect.getsource(flow.function)
        except (OSError, TypeError):
            sql = repr(flow.function.__code__.co_code)
    rules = json.dumps([e.__dict__ for e in ds.expectations], sort_keys=True, default=str)
    return hashlib.sha256("\n".join([sql, rules, df.schema.json()]).encode()).hexdigest()


# ---------------------------------------------------------------- what changed
def plan(ctx, ds, found: Shape | None, reason: str | None, full_refresh: bool) -> Plan:
    """Choose the technique for this refresh of ``ds`` (see the module docstring)."""
    kept = load(ctx, ds.name) or {}
    technique, why, changes = _choose(ctx, ds, found, reason, full_refresh, kept)
    return Plan(technique, why, changes, kept)


def _choose(ctx, ds, found: Shape | None, reason: str | None, full_refresh: bool, kept: dict):
    recompute = "COMPLETE_RECOMPUTE"
    if full_refresh:
        return recompute, "a full refresh was requested", {}
    if found is None:
        return recompute, reason, {}
    if not kept:
        return recompute, "no earlier refresh to build on", {}
    if kept["fingerprint"] != found.fingerprint:
        return recompute, "the definition or the schema of its input changed", {}
    if found.uses_today and kept.get("day") != _today(ctx.spark):
        return recompute, "the query uses current_date() and the day changed", {}
    if table_version(ctx, ctx.full_name(ds.name)) != tuple(kept["view"]):
        return recompute, "the view's table was changed outside the pipeline", {}
    changes = {}
    for source in found.sources:
        problem, change = _appended(ctx, source, kept["sources"].get(source))
        if problem:
            return recompute, problem, {}
        if change:
            changes[source] = change
    if not changes:
        return "NO_OP", None, {}
    if found.technique is None:
        return recompute, found.reason, {}
    return found.technique, None, changes


def _appended(ctx, source: str, kept) -> tuple[str | None, tuple | None]:
    """(problem, (first, last) new versions) of ``source`` since ``kept = (table id, version)``."""
    if kept is None:
        return f"{source} was not read by the last refresh", None
    table_id, version = kept
    log = ctx.table_log(source)
    now = log.snapshot()
    if now.table_id != table_id or now.version < version:
        return f"{source} was re-created", None
    if now.version == version:
        return None, None
    for commit in log.commits(version + 1, now.version):
        if commit.operation in _NO_DATA_CHANGE:
            continue
        key, value = _APPENDS.get(commit.operation, (None, None))
        if key is None or commit.parameters.get(key) != value:
            return f"{source} had a {commit.operation or 'cleaned-up'} commit (version {commit.version}), " \
                   "not only appends", None
    if str(now.properties.get(CHANGE_FEED, "false")).lower() != "true":
        return f"{source} has no change data feed ({CHANGE_FEED})", None
    return None, (version + 1, now.version)


def appended_rows(ctx, source: str, first: int, last: int):
    """The rows ``source`` gained in versions ``first``..``last``: read from the files those append commits added
    (``TableLog.appended_rows``), or else from the change data feed's inserts."""
    rows = ctx.table_log(source).appended_rows(first, last)
    if rows is not None:
        return rows
    spark = ctx.spark
    rows = (spark.read.option("readChangeFeed", "true").option("startingVersion", first)
            .option("endingVersion", last).table(source))
    return rows.where("_change_type = 'insert'").drop("_change_type", "_commit_version", "_commit_timestamp")


# ---------------------------------------------------------------- the record kept between refreshes
def table_version(ctx, name: str) -> tuple[str, int]:
    """``(Delta table id, current version)`` of a table."""
    now = ctx.table_log(name).snapshot()
    return now.table_id, now.version


def save(ctx, ds, found: Shape, before: dict, extra: dict | None = None) -> None:
    """Keep what this refresh read (``before``: source -> version taken before reading). Nothing is kept if
    a source moved while the refresh ran: the next refresh then recomputes rather than count rows twice."""
    path = state_path(ctx, ds.name)
    now = versions(ctx, found)
    if now != before:
        path.unlink(missing_ok=True)
        return
    state = {"fingerprint": found.fingerprint, "technique": found.technique,
             "view": table_version(ctx, ctx.full_name(ds.name)),
             "sources": before, "day": _today(ctx.spark) if found.uses_today else None, **(extra or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(path)
    _prune_aggregate_states(ctx, ds.name, state.get("aggregate_state"))


def versions(ctx, found: Shape) -> dict:
    return {source: table_version(ctx, source) for source in found.sources}


def load(ctx, name: str) -> dict | None:
    """The record of the view's last refresh, or None."""
    try:
        state = json.loads(state_path(ctx, name).read_text())
    except (OSError, ValueError):
        return None
    state["sources"] = {k: tuple(v) for k, v in state.get("sources", {}).items()}
    return state


def forget(ctx, name: str) -> None:
    state_path(ctx, name).unlink(missing_ok=True)
    _prune_aggregate_states(ctx, name, None)


def _prune_aggregate_states(ctx, name: str, keep: int | None) -> None:
    folder = aggregate_state_path(ctx, name)
    for snapshot in folder.iterdir() if folder.is_dir() else []:
        if snapshot.name != str(keep):
            shutil.rmtree(snapshot, ignore_errors=True)


def _today(spark) -> str:
    zone = spark.conf.get("spark.sql.session.timeZone", "UTC")
    try:
        from zoneinfo import ZoneInfo

        return dt.datetime.now(ZoneInfo(zone)).date().isoformat()
    except Exception:  # noqa: BLE001 - an offset-style zone: fall back to UTC
        return dt.datetime.now(dt.timezone.utc).date().isoformat()
