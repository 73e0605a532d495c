"""``lakehouse-lab pipeline run|graph``: run an update or draw the dataflow graph of a pipeline folder.

    lakehouse-lab pipeline run notebooks/pipelines/orders --env dev --full-refresh silver_orders --json
    lakehouse-lab pipeline run notebooks/pipelines/orders --refresh silver_orders,gold_customer_metrics
    lakehouse-lab pipeline run notebooks/pipelines/orders --validate-only
    lakehouse-lab pipeline graph notebooks/pipelines/orders --out orders.svg
"""
from __future__ import annotations

import json
import sys


def _source(paths: list[str]):
    return paths[0] if len(paths) == 1 else paths


def table_list(listed: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]`` (a ``--refresh`` / ``--full-refresh`` value); ``None`` stays ``None``."""
    return None if listed is None else [t.strip() for t in listed.split(",") if t.strip()]


def _run(args) -> int:
    from . import Pipeline, PipelineDefinitionError, run_pipeline

    full_refresh = True if args.full_refresh == "*" else table_list(args.full_refresh)
    try:
        pipeline = Pipeline.load(_source(args.path))  # a wrong path or a syntax error: before Spark starts
        update = run_pipeline(pipeline, env=args.env, full_refresh=full_refresh or False, name=args.name,
                              schema=args.schema, validate_only=args.validate_only,
                              refresh_selection=table_list(args.refresh))
    except PipelineDefinitionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(update.to_dict(), indent=2, default=str))
    else:
        kind = "validation" if update.validate_only else "update"
        print(f"pipeline {update.pipeline_name} {kind} {update.update_id}: {update.state} "
              f"in {update.duration_s:.1f}s (env {update.environment})")
        for row in update.summary():
            failed = ", ".join(f"{k}={v}" for k, v in row["failed_expectations"].items())
            print(f"  {row['dataset']:<28} {row['kind']:<18} {row['status']:<10} written={row['rows_written']:<9} "
                  f"dropped={row['rows_dropped']:<7} {row['refresh'] or ''} {failed}".rstrip())
        if update.error:
            print(f"error: {update.error}", file=sys.stderr)
    return 0 if update.state == "COMPLETED" else 1


def _graph(args) -> int:
    from . import PipelineDefinitionError, graph
    from .display import svg

    try:
        picture = svg(graph(_source(args.path), name=args.name))
    except PipelineDefinitionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with open(args.out, "w", encoding="utf-8") as out:
        out.write(picture)
    print(f"wrote {args.out}")
    return 0


def register(subparsers) -> None:
    """Add ``pipeline run`` and ``pipeline graph`` to the ``lakehouse-lab`` command."""
    p = subparsers.add_parser("pipeline", help="declarative pipelines: run an update, draw the graph")
    sub = p.add_subparsers(dest="pipeline_command", metavar="ACTION", required=True)
    run = sub.add_parser("run", help="run one update of the pipeline in PATH (folder or .sql/.py files)")
    run.add_argument("path", nargs="+", help="pipeline folder, or .sql/.py files")
    run.add_argument("--env", default=None, help="environment (dev, staging, prod); default dev")
    run.add_argument("--name", default=None, help="pipeline name (default: <folder>_pipeline); a table belongs to "
                                                  "the pipeline that created it")
    run.add_argument("--schema", default=None, help="schema of the environment's catalog to publish into, created "
                                                    "if missing (default: the environment's, e.g. analytics)")
    run.add_argument("--full-refresh", nargs="?", const="*", default=None, metavar="TABLE,…",
                     help="reset tables and checkpoints and recompute: all, or only the listed tables (give it "
                          "after PATH)")
    run.add_argument("--refresh", default=None, metavar="TABLE,…",
                     help="update only the listed tables (with --full-refresh T,…: those too); the others are "
                          "EXCLUDED")
    run.add_argument("--validate-only", action="store_true",
                     help="resolve every flow (columns, tables, functions) without running any or writing a table")
    run.add_argument("--json", action="store_true", help="print the update as JSON")
    run.set_defaults(func=_run)
    g = sub.add_parser("graph", help="write the dataflow graph of PATH as SVG")
    g.add_argument("path", nargs="+")
    g.add_argument("--name", default=None)
    g.add_argument("--out", required=True, help="output .svg file")
    g.set_defaults(func=_graph)
