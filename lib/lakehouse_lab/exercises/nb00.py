"""Exercises of ``00_setup_and_tour``: reading bronze data, and Delta time travel.

>>> from lakehouse_lab.exercises import nb00
>>> nb00.q1.name, nb00.q2.name
('q1', 'q2')
"""
from __future__ import annotations

from .core import Problem

TOUR_TABLE = "tour_orders"


def _spark():
    import lakehouse_lab as lab

    return lab.start()


def _future_orders(answer) -> str | None:
    from pyspark.sql import DataFrame

    import lakehouse_lab as lab

    if not isinstance(answer, DataFrame):
        return f"Expected a DataFrame (e.g. spark.table(...).where(...)), got {type(answer).__name__}."
    if "order_date" not in answer.columns:
        return "Keep the order_date column so the result can be checked."
    expected = _spark().table(lab.table("bronze.raw_orders")).where("CAST(order_date AS DATE) > current_date()")
    got = answer.count()
    if got == 0:
        return "Your DataFrame is empty: compare order_date with current_date(), not with a fixed date."
    if answer.where("CAST(order_date AS DATE) <= current_date()").count():
        return "Some rows are not in the future: the filter must keep only order_date > current_date()."
    if got != expected.count():
        return f"You found {got} future orders, but bronze holds {expected.count()}: read the whole bronze table."
    return None


def _version_zero_count(answer) -> str | None:
    import lakehouse_lab as lab

    if not isinstance(answer, int) or isinstance(answer, bool):
        return f"Expected a number of rows (an int, e.g. from .count()), got {type(answer).__name__}."
    table = lab.table(TOUR_TABLE)
    first = _spark().sql(f"SELECT count(*) AS n FROM {table} VERSION AS OF 0").first().n
    if answer == _spark().table(table).count() and answer != first:
        return "That is the current row count: add VERSION AS OF 0 to read the first version."
    return None if answer == first else f"{answer} is not the row count of version 0 of {table}."


q1 = Problem(
    "q1", "Build a DataFrame of the bronze orders whose order_date lies in the future.",
    check=_future_orders, var="future",
    hints=["Start from spark.table(lab.table('bronze.raw_orders')).",
           "order_date is a string: CAST(order_date AS DATE) > current_date() in a .where()."],
    solution="future = spark.table(lab.table('bronze.raw_orders')).where('CAST(order_date AS DATE) > current_date()')",
)

q2 = Problem(
    "q2", f"How many rows did {TOUR_TABLE} have in its very first version? Use Delta time travel.",
    check=_version_zero_count, var="first_count",
    hints=["DESCRIBE HISTORY shows the versions; version 0 is the CREATE.",
           "spark.sql(f'SELECT count(*) AS n FROM {table} VERSION AS OF 0').first().n"],
    solution=(f"table = lab.table('{TOUR_TABLE}')\n"
              "first_count = spark.sql(f'SELECT count(*) AS n FROM {table} VERSION AS OF 0').first().n"),
)
