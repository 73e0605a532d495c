"""A ``GROUP BY`` query split into mergeable partial aggregates, so a materialized view can absorb new rows.

``SELECT k, COUNT(*) AS n, AVG(x) AS a, DATEDIFF(MAX(d), MIN(d)) AS span FROM src WHERE … GROUP BY k`` gives

* **partial** — the same ``FROM``/``WHERE``/``GROUP BY`` with the aggregates taken apart: ``k AS __k0,
  COUNT(*) AS __p0, SUM(x) AS __p1, COUNT(x) AS __p2, MAX(d) AS __p3, MIN(d) AS __p4``; run over new rows only;
* **merge** — the kept partials and the new ones re-aggregated per key (counts and sums add up, MIN of MINs,
  MAX of MAXs); the new rows join the merge one partial per row (``row_partials_sql``);
* **final** — the original select list over the merged partials, each column cast to the view's type.

Only what merges exactly is accepted (COUNT, SUM, MIN, MAX, and AVG as a whole column); anything else raises
:class:`NotIncremental` with the reason, and the view is recomputed instead.

>>> r = rewrite("SELECT k, COUNT(*) AS n, SUM(x) AS s FROM t WHERE x > 0 GROUP BY k")
>>> r.partial_sql("new_rows")
'SELECT k AS __k0, COUNT(*) AS __p0, SUM(x) AS __p1 FROM new_rows WHERE x > 0 GROUP BY k'
>>> r.outputs
['__k0', '__p0', '__p1']
"""
from __future__ import annotations

from dataclasses import dataclass

_MERGE = {"COUNT": "sum", "SUM": "sum", "MIN": "min", "MAX": "max"}
_UNSUPPORTED_CLAUSES = ("with", "joins", "having", "distinct", "order", "limit", "offset", "qualify", "windows",
                        "laterals", "pivots")


class NotIncremental(ValueError):
    """The query cannot be maintained incrementally; the message says why."""


@dataclass
class AggregateRewrite:
    """The three queries of an incrementally maintained aggregate (see the module docstring)."""

    query: object                    # the parsed SELECT (sqlglot)
    keys: list                       # GROUP BY expressions -> __k0, __k1, …
    parts: list[tuple[str, str]]     # (COUNT|SUM|MIN|MAX, SQL of the partial aggregate) -> __p0, __p1, …
    outputs: list[str]               # the select list as SQL over __k*/__p*

    def partial_sql(self, source: str) -> str:
        """The partial aggregates of the rows in ``source`` (a table or view name)."""
        import sqlglot

        return self._select(source, [sqlglot.parse_one(sql, dialect="spark") for _, sql in self.parts], True)

    def row_partials_sql(self, source: str, types: dict) -> str:
        """Every row of ``source`` that passes the ``WHERE``, as partials of its own (``COUNT(*)`` is 1, ``SUM(x)``
        is ``x``, …), cast to ``types`` (the kept partials' column types, by name). Merged with the kept partials,
        one aggregation does the work of :meth:`partial_sql` and a merge: one shuffle instead of two.

        >>> r = rewrite("SELECT k, COUNT(*) AS n, SUM(x) AS s FROM t WHERE x > 0 GROUP BY k")
        >>> r.row_partials_sql("new_rows", {"__p0": "bigint", "__p1": "bigint"})
        'SELECT k AS __k0, CAST(1 AS BIGINT) AS __p0, CAST(x AS BIGINT) AS __p1 FROM new_rows WHERE x > 0'
        """
        import sqlglot

        columns = []
        for i, (function, sql) in enumerate(self.parts):
            arg = sqlglot.parse_one(sql, dialect="spark").this.sql(dialect="spark")
            value = {"COUNT": "1" if arg == "*" else f"({arg}) IS NOT NULL"}.get(function, arg)
            columns.append(sqlglot.parse_one(f"CAST({value} AS {types[f'__p{i}']})", dialect="spark"))
        return self._select(source, columns, False)

    def _select(self, source: str, parts: list, grouped: bool) -> str:
        """The query reading ``source``, selecting its keys and ``parts`` (``__k*``, ``__p*``)."""
        from sqlglot import exp

        query = self.query.copy()
        columns = [exp.alias_(k.copy(), f"__k{i}") for i, k in enumerate(self.keys)]
        columns += [exp.alias_(part, f"__p{i}") for i, part in enumerate(parts)]
        query.set("expressions", columns)
        if not grouped:
            query.set("group", None)
        table = query.args["from_"].this
        new_table = exp.to_table(source, dialect="spark")
        if table.args.get("alias"):
            new_table.set("alias", table.args["alias"].copy())
        table.replace(new_table)
        return query.sql(dialect="spark")

    def merge(self, kept, new):
        """``kept`` and ``new`` partials (DataFrames) re-aggregated per key, types kept."""
        from pyspark.sql import functions as F

        keys = [f"__k{i}" for i in range(len(self.keys))]
        types = {f.name: f.dataType.simpleString() for f in kept.schema.fields}
        # SQL text: one call to the JVM per column (Column functions take several each)
        merged = [F.expr(f"CAST({_MERGE[fn]}(__p{i}) AS {types[f'__p{i}']}) AS __p{i}")
                  for i, (fn, _) in enumerate(self.parts)]
        return kept.unionByName(new).groupBy(*keys).agg(*merged)

    def final(self, partials, schema):
        """The view's rows from merged ``partials``, with ``schema``'s column names and types."""
        columns = [f"CAST({sql} AS {field.dataType.simpleString()}) AS `{field.name.replace('`', '``')}`"
                   for sql, field in zip(self.outputs, schema.fields)]
        return partials.selectExpr(*columns)


def rewrite(sql: str) -> AggregateRewrite:
    """Split ``sql`` (one ``SELECT … FROM table [WHERE …] GROUP BY columns``); raises :class:`NotIncremental`."""
    import sqlglot
    from sqlglot import exp

    try:
        query = sqlglot.parse_one(sql, dialect="spark")
    except sqlglot.errors.SqlglotError:
        raise NotIncremental("the query could not be analysed for incremental refresh") from None
    if not isinstance(query, exp.Select):
        raise NotIncremental("the query is not a single SELECT")
    for clause in _UNSUPPORTED_CLAUSES:
        if query.args.get(clause):
            raise NotIncremental(f"the query uses {clause.upper()}")
    group = query.args.get("group")
    if group is None or not group.expressions or any(group.args.get(k) for k in ("rollup", "cube", "grouping_sets")):
        raise NotIncremental("the query has no plain GROUP BY")
    if any(not isinstance(k, exp.Column) for k in group.expressions):
        raise NotIncremental("GROUP BY lists an expression, not a column")
    source = query.args.get("from_")
    if source is None or not isinstance(source.this, exp.Table):
        raise NotIncremental("the query does not read one table")
    if query.find(exp.Window, exp.Subquery, exp.Filter):
        raise NotIncremental("the query uses a window, a subquery or an aggregate FILTER")
    keys = {k.name.lower(): i for i, k in enumerate(group.expressions)}
    parts: list[tuple[str, str]] = []
    outputs = [_output(item, keys, parts) for item in query.expressions]
    return AggregateRewrite(query, list(group.expressions), parts, outputs)


def _output(item, keys: dict, parts: list) -> str:
    from sqlglot import exp

    body = item.this if isinstance(item, exp.Alias) else item
    if isinstance(body, exp.Star):
        raise NotIncremental("SELECT * in an aggregate")

    def part(function: str, arg: str):
        sql = f"{function}({arg})"
        if (function, sql) not in parts:
            parts.append((function, sql))
        return exp.column(f"__p{parts.index((function, sql))}")

    root = body.copy()

    def replace(node):
        if isinstance(node, exp.AggFunc):
            return _aggregate(node, part, is_whole_column=node is root)
        if isinstance(node, exp.Column):
            if node.name.lower() not in keys:
                raise NotIncremental(f"column {node.sql(dialect='spark')} is neither grouped nor aggregated")
            return exp.column(f"__k{keys[node.name.lower()]}")
        return node

    return root.transform(replace, copy=False).sql(dialect="spark")


def _aggregate(node, part, is_whole_column: bool):
    import sqlglot
    from sqlglot import exp

    if len(list(node.find_all(exp.AggFunc))) > 1:
        raise NotIncremental(f"nested aggregate in {node.sql(dialect='spark')}")
    arg = node.this
    if isinstance(arg, exp.Distinct):
        raise NotIncremental(f"{node.sql(dialect='spark')}: DISTINCT aggregates do not merge")
    arg_sql = "*" if isinstance(arg, exp.Star) else arg.sql(dialect="spark")
    kinds = {exp.Count: "COUNT", exp.Sum: "SUM", exp.Min: "MIN", exp.Max: "MAX"}
    if type(node) in kinds and not node.args.get("expressions"):
        return part(kinds[type(node)], arg_sql)
    if isinstance(node, exp.Avg) and is_whole_column:
        total, count = part("SUM", arg_sql), part("COUNT", arg_sql)
        return sqlglot.parse_one(f"CASE WHEN {count.sql()} = 0 THEN NULL ELSE {total.sql()} / {count.sql()} END")
    if isinstance(node, exp.Avg):
        raise NotIncremental(f"{node.sql(dialect='spark')} inside an expression (AVG merges only as a whole column)")
    raise NotIncremental(f"{node.sql(dialect='spark')} is not maintained incrementally (COUNT, SUM, MIN, MAX, "
                         "AVG are)")
