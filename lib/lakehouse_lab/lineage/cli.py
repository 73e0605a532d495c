"""``lakehouse-lab lineage TABLE [--upstream|--downstream|--impact] [--columns] [--format svg|dot|json] [--out FILE]``.

Examples::

    lakehouse-lab lineage dev_catalog.analytics.gold_customer_metrics --upstream --columns --format svg --out g.svg
    lakehouse-lab lineage dev_catalog.bronze.raw_orders --impact --format json
"""
from __future__ import annotations

import json
import sys
import warnings


def register(subparsers) -> None:
    p = subparsers.add_parser("lineage", help="table / column lineage of a table: graph (svg, dot) or rows (json)")
    p.add_argument("table", help="catalog.schema.table (or schema.table / table in the environment's catalog)")
    way = p.add_mutually_exclusive_group()
    way.add_argument("--upstream", action="store_true", help="only what the table is built from")
    way.add_argument("--downstream", action="store_true", help="only what is built from the table")
    way.add_argument("--impact", action="store_true", help="everything affected by a change, by level")
    p.add_argument("--columns", action="store_true", help="column-level lineage (column -> column)")
    p.add_argument("--depth", type=int, default=10, help="hops to follow (default 10)")
    p.add_argument("--format", choices=["svg", "dot", "json"], default="svg")
    p.add_argument("--out", help="write to FILE instead of standard output")
    p.add_argument("--env", default=None, help="environment (dev, staging, prod); default dev")
    p.set_defaults(func=run)


def _graph(args, spark):
    from . import graphs

    if args.columns:
        return graphs.column_graph(args.table, depth=args.depth, spark=spark)
    if args.impact:
        return graphs.impact_graph(args.table, args.depth, spark=spark)
    if args.upstream:
        return graphs.upstream_graph(args.table, args.depth, spark=spark)
    return graphs.table_graph(args.table, args.depth, spark=spark)


def _rows(args, spark) -> list[dict]:
    from . import queries

    if args.columns:
        return [r.asDict() for r in queries.column_lineage(args.table, spark=spark).collect()]
    if args.impact:
        return [r.asDict() for r in queries.impact(args.table, args.depth, spark=spark).collect()]
    frames = []
    if not args.downstream:
        frames += [dict(r.asDict(), direction="upstream") for r in queries.upstream(args.table, args.depth, spark).collect()]
    if not args.upstream:
        frames += [dict(r.asDict(), direction="downstream")
                   for r in queries.downstream(args.table, args.depth, spark).collect()]
    return frames


def run(args) -> int:
    import lakehouse_lab as lab
    from . import queries

    spark = lab.start(args.env)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", queries.UnknownTableWarning)
        if args.format == "json":
            text = "\n".join(json.dumps(r, default=str) for r in _rows(args, spark)) + "\n"
        else:
            graph = _graph(args, spark)
            text = graph.source if args.format == "dot" else graph.pipe(format="svg").decode()
    unknown = [w for w in caught if issubclass(w.category, queries.UnknownTableWarning)]
    for message in dict.fromkeys(str(w.message) for w in unknown):  # upstream and downstream both warn
        print(f"lineage: {message}", file=sys.stderr)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 1 if unknown else 0
