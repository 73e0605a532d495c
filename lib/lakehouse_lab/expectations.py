"""Data-quality expectations the Delta Live Tables way: warn, drop or fail, with counts from the same pass.

An expectation is a name, a SQL boolean condition and an action. A row *violates* it when the condition is
``false``; a ``NULL`` result passes, as with SQL ``CHECK`` constraints (write ``x IS NOT NULL AND x > 0`` to
reject nulls too). ``warn`` keeps and counts violating rows, ``drop`` removes and counts them, ``fail`` aborts
the write so the target's Delta version does not change.

Counts come from ``DataFrame.observe`` on the rows as they flow into the write: no second scan.

>>> from lakehouse_lab.expectations import Expectation
>>> Expectation("positive_amount", "amount > 0", "fail").action
'fail'
>>> import lakehouse_lab.expectations as ex
>>> @ex.expect_or_drop("valid_id", "order_id IS NOT NULL")
... def orders(): ...
>>> [e.name for e in orders.__dp_expectations__]
['valid_id']
"""
from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass

ACTIONS = ("warn", "drop", "fail")
FAIL_MESSAGE_PREFIX = "EXPECTATION_VIOLATED"


@dataclass(frozen=True)
class Expectation:
    """One named constraint: ``condition`` is a SQL boolean expression, ``action`` one of warn/drop/fail."""

    name: str
    condition: str
    action: str = "warn"

    def __post_init__(self):
        if self.action not in ACTIONS:
            raise ValueError(f"expectation {self.name!r}: action must be one of {ACTIONS}, not {self.action!r}")
        if not self.name or not str(self.condition).strip():
            raise ValueError(f"an expectation needs a name and a condition, got {self.name!r}: {self.condition!r}")

    @property
    def violation_sql(self) -> str:
        """SQL that is true for rows violating the condition (``NULL`` counts as passing). The line break keeps
        a trailing ``--`` comment in the condition from hiding the closing parenthesis."""
        return f"NOT coalesce(CAST(({self.condition}\n) AS BOOLEAN), true)"

    def violated(self):
        """A Column that is true for rows violating the condition (``NULL`` counts as passing)."""
        from pyspark.sql import functions as F

        return F.expr(self.violation_sql)


class ExpectationFailed(RuntimeError):
    """A ``fail`` expectation was violated: names the dataset, the constraint and shows violating rows."""

    def __init__(self, dataset: str, expectation: Expectation, sample: list[dict]):
        self.dataset, self.expectation, self.sample = dataset, expectation, sample
        rows = "\n".join("  " + json.dumps(r, default=str) for r in sample) or "  (no sample)"
        super().__init__(
            f"Expectation {expectation.name!r} on dataset {dataset!r} failed: condition "
            f"({expectation.condition}) was false. ON VIOLATION FAIL UPDATE stopped the update; "
            f"nothing was written to {dataset}. Violating rows (sample):\n{rows}")


@dataclass
class Checked:
    """The output of :func:`apply`: the rows to write, the metric source, and the quarantine rows."""

    df: object
    expectations: list
    observation: object  # pyspark.sql.Observation for batch, the metric name (str) for streaming
    metric_name: str

    def quality(self, metrics: dict, dataset: str) -> dict:
        """``details.flow_progress.data_quality`` from observed metrics (see :func:`data_quality`)."""
        return data_quality(metrics, self.expectations, dataset)


def _metric_columns(expectations: list[Expectation]):
    """The observed metrics, each column parsed from SQL in one call: building them from Column functions made
    some 500 round trips to the JVM per dataset (about 50 ms of every update). ``SUM(CASE …)``, not ``count_if``:
    Spark 4.1 plans ``count_if`` with an extra projection per row (5 % more on a 2M-row refresh)."""
    from pyspark.sql import functions as F

    def violations(sql: str, alias: str):
        return F.expr(f"sum(CASE WHEN {sql} THEN 1 ELSE 0 END) AS {alias}")

    drops = _any_sql([e for e in expectations if e.action == "drop"])
    return [F.expr("count(1) AS num_input_rows"),
            *[violations(e.violation_sql, f"failed_{i}") for i, e in enumerate(expectations)],
            violations(drops, "dropped_records")]


def _any_sql(expectations: list[Expectation]) -> str:
    """SQL that is true for rows violating any of ``expectations`` (false when there are none)."""
    return " OR ".join(f"({e.violation_sql})" for e in expectations) or "false"


def apply(df, expectations: list[Expectation], dataset: str, *, observe: bool = True) -> Checked:
    """Add metrics, ``fail`` assertions and ``drop`` filters to ``df`` (batch or streaming), in one pass.

    The assertion is a filter (``where(assert_true(...).isNull())``): a projected ``assert_true`` column that
    is later dropped would be pruned by the optimizer and never fire.
    """
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    metric_name = f"dq_{uuid.uuid4().hex[:12]}"
    observation = None
    if observe:
        observation = metric_name if df.isStreaming else Observation(metric_name)
        df = df.observe(observation, *_metric_columns(expectations))
    keep = [F.assert_true(F.expr(f"NOT ({e.violation_sql})"), F.lit(f"{FAIL_MESSAGE_PREFIX}[{i}] {dataset}.{e.name}"))
            .isNull() for i, e in enumerate(expectations) if e.action == "fail"]
    drops = [e for e in expectations if e.action == "drop"]
    if drops:
        keep.append(F.expr(f"NOT ({_any_sql(drops)})"))
    if keep:  # one filter, the assertions first (as separate filters would be combined)
        df = df.where(functools.reduce(lambda a, b: a & b, keep))
    return Checked(df, list(expectations), observation, metric_name)


def quarantine_rows(df, expectations: list[Expectation]):
    """The rows ``drop`` expectations remove, with ``_failed_expectations`` (names of violated rules)."""
    from pyspark.sql import functions as F

    drops = [e for e in expectations if e.action == "drop"]
    names = F.array(*[F.when(e.violated(), F.lit(e.name)) for e in drops])
    return (df.where(F.expr(_any_sql(drops)))
              .withColumn("_failed_expectations", F.filter(names, lambda x: x.isNotNull())))


def data_quality(metrics: dict, expectations: list[Expectation], dataset: str) -> dict:
    """Event-log ``data_quality``: ``{dropped_records, expectations: [{name, dataset, passed_records,
    failed_records}]}`` from observed metrics."""
    total = int(metrics.get("num_input_rows") or 0)
    rows = []
    for i, e in enumerate(expectations):
        failed = int(metrics.get(f"failed_{i}") or 0)
        rows.append({"name": e.name, "dataset": dataset, "passed_records": total - failed,
                     "failed_records": failed, "action": e.action})
    return {"dropped_records": int(metrics.get("dropped_records") or 0), "expectations": rows}


def failed_expectation(error: BaseException, expectations: list[Expectation]) -> Expectation | None:
    """The expectation whose assertion raised ``error`` (a Spark ``USER_RAISED_EXCEPTION``), if any."""
    text = str(error)
    marker = text.find(FAIL_MESSAGE_PREFIX + "[")
    if marker < 0:
        return None
    index = text[marker + len(FAIL_MESSAGE_PREFIX) + 1:].split("]", 1)[0]
    return expectations[int(index)] if index.isdigit() and int(index) < len(expectations) else None


def violating_sample(df, expectation: Expectation, limit: int = 5) -> list[dict]:
    """Up to ``limit`` rows of ``df`` (a batch DataFrame) that violate ``expectation``."""
    return [r.asDict() for r in df.where(expectation.violated()).limit(limit).collect()]


# Decorators (``@dp.expect…`` / ``@dlt.expect…``): they attach rules to the dataset function.
def _attach(rules: list[Expectation]):
    def decorate(fn):
        existing = getattr(fn, "__dp_expectations__", [])
        fn.__dp_expectations__ = [*rules, *existing]
        dataset = getattr(fn, "__dp_dataset__", None)
        if dataset is not None:  # the expectation decorator sits above @dp.table
            dataset.expectations.extend(rules)
        return fn
    return decorate


def _many(rules: dict, action: str) -> list[Expectation]:
    if not isinstance(rules, dict) or not rules:
        raise TypeError("expect_all* takes a non-empty dict {name: condition}")
    return [Expectation(name, cond, action) for name, cond in rules.items()]


def expect(description: str, constraint: str):
    """Keep violating rows and count them (``CONSTRAINT c EXPECT (cond)``)."""
    return _attach([Expectation(description, constraint, "warn")])


def expect_or_drop(description: str, constraint: str):
    """Drop violating rows and count them (``ON VIOLATION DROP ROW``)."""
    return _attach([Expectation(description, constraint, "drop")])


def expect_or_fail(description: str, constraint: str):
    """Fail the update on the first violating row (``ON VIOLATION FAIL UPDATE``)."""
    return _attach([Expectation(description, constraint, "fail")])


def expect_all(expectations: dict):
    """:func:`expect` for each ``{name: condition}``."""
    return _attach(_many(expectations, "warn"))


def expect_all_or_drop(expectations: dict):
    """:func:`expect_or_drop` for each ``{name: condition}``."""
    return _attach(_many(expectations, "drop"))


def expect_all_or_fail(expectations: dict):
    """:func:`expect_or_fail` for each ``{name: condition}``."""
    return _attach(_many(expectations, "fail"))
