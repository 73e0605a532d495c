"""``lakehouse-lab``: the lab from the shell. Each command wraps the same functions the notebooks call."""
from __future__ import annotations

import argparse
import json
import sys

DESCRIPTION = """\
Lakehouse Lab: Databricks dataflow patterns on a local Apache Spark + Delta Lake lakehouse.

Common commands:
  lakehouse-lab doctor                      check Java, graphviz, jars and the class archive
  lakehouse-lab run                         the main job: ingest -> pipeline (bronze/silver/gold) -> checks
  lakehouse-lab sql "SELECT ..." [--json]   run SQL in the lab (three-level names work)
  lakehouse-lab catalog [--json]            the catalogs, schemas and tables every kernel shares
  lakehouse-lab cluster start|status|stop   one warm Spark driver every kernel attaches to (fast starts)
  lakehouse-lab reset --yes                 delete all lab state (tables, checkpoints, history)
"""


def _doctor(args) -> int:
    from . import doctor

    return 0 if doctor.report(quiet=args.quiet) else 1


def _reset(args) -> int:
    from . import session

    if not args.yes:
        print("This deletes every table, checkpoint and history record of the lab. Re-run with --yes.")
        return 2
    print(f"Removed {session.reset()}")
    return 0


def _sql(args) -> int:
    import lakehouse_lab as lab

    spark = lab.start(args.env)
    df = spark.sql(args.query)
    if args.json:
        for row in df.toJSON().collect():
            print(row)
    else:
        df.show(args.limit, truncate=False)
    return 0


def _catalog(args) -> int:
    from . import catalog, paths

    tree = catalog.on_disk()
    if args.json:
        print(json.dumps(tree, indent=2))
        return 0
    print(f"catalogs in {paths.lab_root() / 'warehouse'} (shared by every kernel; no server)")
    for name, schemas in tree.items():
        print(name)
        for schema, tables in schemas.items():
            print(f"  {schema}: {', '.join(tables) if tables else '(no tables)'}")
    return 0


def _cluster(args) -> int:
    from . import cluster

    if args.action == "start":
        try:
            info = cluster.start()
        except cluster.ClusterError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"lab cluster running: pid {info['pid']}, {info['app_id']}; lab.start() in any kernel attaches to it")
    elif args.action == "stop":
        print("lab cluster stopped" if cluster.stop() else "no lab cluster was running")
    else:
        info = cluster.status()
        if args.json:
            print(json.dumps(info))
        else:
            print("no lab cluster is running" if info is None else
                  f"lab cluster running: pid {info['pid']}, {info['app_id']}, {info['attached']} process(es) attached")
        return 0 if info else 3
    return 0


def _run(args) -> int:
    from . import medallion

    summary = medallion.run(env=args.env, orders=args.orders, batches=args.batches)
    print(summary.to_text())
    return 0 if summary.result_state == "SUCCESS" else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lakehouse-lab", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("doctor", help="check the machine: Java, dot, jars, versions (with fixes)")
    p.add_argument("--quiet", action="store_true", help="print only failing checks")
    p.set_defaults(func=_doctor)

    p = sub.add_parser("reset", help="delete all lab state under the lab root (jars are kept)")
    p.add_argument("--yes", action="store_true", help="confirm")
    p.set_defaults(func=_reset)

    p = sub.add_parser("sql", help="run one SQL statement in the lab and print the rows")
    p.add_argument("query")
    p.add_argument("--env", default=None, help="environment (dev, staging, prod); default dev")
    p.add_argument("--json", action="store_true", help="print one JSON object per row")
    p.add_argument("--limit", type=int, default=50, help="rows to show (table output)")
    p.set_defaults(func=_sql)

    p = sub.add_parser("catalog", help="list the lab catalogs' schemas and tables (read from disk, no Spark)")
    p.add_argument("action", nargs="?", choices=["status"], default="status", help="(the only action; optional)")
    p.add_argument("--json", action="store_true", help="print {catalog: {schema: [tables]}} as JSON")
    p.set_defaults(func=_catalog)

    p = sub.add_parser("cluster", help="start/stop the lab cluster: one warm Spark driver every kernel attaches to")
    p.add_argument("action", nargs="?", choices=["start", "status", "stop"], default="status",
                   help="start: run the driver in the background and wait until it is ready; status (default): "
                        "pid, application and attached processes, exit code 3 when none runs; stop")
    p.add_argument("--json", action="store_true", help="status as JSON (null when none runs)")
    p.set_defaults(func=_cluster)

    p = sub.add_parser("run", help="the main job: ingest orders, run the course pipeline, validate, notify")
    p.add_argument("--env", default="dev", help="environment whose catalog it fills (dev, staging, prod); default dev")
    p.add_argument("--orders", type=int, default=20_000, help="orders to generate (default 20000)")
    p.add_argument("--batches", type=int, default=2, help="files landed, one batch each (default 2)")
    p.set_defaults(func=_run)

    for register in _extensions():
        register(sub)
    return parser


def _extensions():
    """Sub-commands contributed by the feature modules (pipelines, jobs, lineage, bundles...)."""
    import importlib

    found = []
    for module in ("pipelines.cli", "lineage.cli", "jobs.cli", "environments.cli", "observability.cli"):
        try:
            found.append(importlib.import_module(f"lakehouse_lab.{module}").register)
        except ModuleNotFoundError:
            continue
    return found


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args) or 0
    except _user_errors() as exc:
        print(f"error: {_short(exc)}", file=sys.stderr)
        return 2


def _user_errors() -> tuple:
    """What a command's input can cause (a bad name, file, query or run id): one line, no traceback.
    ``ValueError`` covers the lab's definition errors (config, bundle, job, pipeline)."""
    from .cluster import ClusterError
    from .session import LabError

    errors = [ValueError, LookupError, LabError, ClusterError]
    try:
        from pyspark.errors import AnalysisException

        errors.append(AnalysisException)
    except ImportError:
        pass
    return tuple(errors)


def _short(exc: Exception) -> str:
    """The error's first line; for a table that is not there, what the catalog holds instead."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if getattr(exc, "getCondition", lambda: None)() == "TABLE_OR_VIEW_NOT_FOUND":
        import lakehouse_lab as lab
        from .catalog import explain_not_found

        spark = lab.start()
        first += " " + explain_not_found(spark, exc, spark.catalog.currentCatalog(), spark.catalog.currentDatabase())
    return first


if __name__ == "__main__":
    sys.exit(main())
