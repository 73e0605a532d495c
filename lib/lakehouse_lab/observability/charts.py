"""The monitoring dashboard: four charts over ``system.lakeflow``, in one call, inline or as an HTML file.

Panels: run outcomes per day, duration trend (average and p95), data-quality pass rate per expectation, rows
written per pipeline flow. An empty history gives empty, labelled panels.

>>> import lakehouse_lab as lab                                     # doctest: +SKIP
>>> board = dashboard(lab.start(), days=30)                         # doctest: +SKIP
>>> board.save_html(".lab/dashboard.html")                          # doctest: +SKIP
"""
from __future__ import annotations

import datetime as dt
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure

from . import queries

STATE_COLOURS = {"SUCCESS": "#2e7d32", "SUCCESS_WITH_FAILURES": "#9ccc65", "FAILED": "#c62828",
                 "TIMEDOUT": "#ef6c00", "CANCELED": "#8d6e63", "INTERNAL_ERROR": "#6a1b9a",
                 "MAXIMUM_CONCURRENT_RUNS_REACHED": "#9e9e9e"}


@dataclass
class Dashboard:
    """The series behind the charts (lists of Rows) and the figure drawn from them."""
    days: int
    outcomes: list
    durations: list
    quality: list
    rows: list
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    @property
    def runs(self) -> int:
        return sum(r.runs for r in self.outcomes)

    def figure(self) -> Figure:
        fig = Figure(figsize=(13, 8), layout="constrained")
        axes = fig.subplots(2, 2)
        _outcomes(axes[0][0], self.outcomes)
        _durations(axes[0][1], self.durations)
        _lines(axes[1][0], self.quality, "expectation", "pass_rate", "Data-quality pass rate per expectation",
               "pass rate (%)", scale=100)
        _lines(axes[1][1], self.rows, "flow_name", "rows", "Rows written per pipeline flow", "rows per day")
        for ax in [a for row in axes for a in row]:
            if not ax.has_data():
                ax.text(0.5, 0.5, f"no data in the last {self.days} days", ha="center", va="center",
                        transform=ax.transAxes, color="#777")
        fig.suptitle(f"Lakehouse Lab monitoring — last {self.days} days, {self.runs} runs")
        return fig

    def svg(self) -> str:
        buffer = io.StringIO()
        self.figure().savefig(buffer, format="svg")
        text = buffer.getvalue()
        return text[text.index("<svg"):]

    def _repr_html_(self) -> str:
        return self.svg()

    def save_html(self, path: str | Path) -> Path:
        """Write the dashboard (charts and the p95 table) as one self-contained HTML file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = "".join(f"<tr><td>{r.day}</td><td>{r.avg_duration:.0f}</td><td>{r.p95_duration:.0f}</td></tr>"
                       for r in self.durations)
        path.write_text(
            f"<!doctype html><html><head><meta charset='utf-8'><title>Lakehouse Lab monitoring</title></head>"
            f"<body style='font-family:sans-serif'>{self.svg()}"
            f"<h3>Successful run duration (seconds)</h3><table border='1' cellpadding='4'>"
            f"<tr><th>day</th><th>average</th><th>p95</th></tr>{rows}</table>"
            f"<p>Generated {html.escape(self.generated_at.isoformat(timespec='seconds'))}</p></body></html>")
        return path


def dashboard(spark, days: int = 30) -> Dashboard:
    """Query the system tables for the last ``days`` days and return the dashboard (it shows itself)."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    flows = queries._flow_progress(spark, days).cache()  # parsed once, aggregated twice
    try:
        return Dashboard(days, queries.outcomes_per_day(spark, days).collect(),
                         queries.duration_trend(spark, days).collect(),
                         queries.quality_pass_rates(spark, days, flows).collect(),
                         queries.rows_per_flow(spark, days, flows).collect())
    finally:
        flows.unpersist()


def _outcomes(ax, rows) -> None:
    days = sorted({r.day for r in rows})
    bottom = [0] * len(days)
    for state in sorted({r.result_state for r in rows}, key=lambda s: (s != "SUCCESS", s)):
        counts = {r.day: r.runs for r in rows if r.result_state == state}
        heights = [counts.get(d, 0) for d in days]
        ax.bar(days, heights, bottom=bottom, label=state, color=STATE_COLOURS.get(state, "#607d8b"))
        bottom = [b + h for b, h in zip(bottom, heights)]
    _labels(ax, "Run outcomes per day", "runs", legend=bool(rows))


def _durations(ax, rows) -> None:
    if rows:
        days = [r.day for r in rows]
        ax.plot(days, [r.avg_duration / 60 for r in rows], label="average", color="#1565c0")
        ax.plot(days, [r.p95_duration / 60 for r in rows], label="p95", color="#c62828", linestyle="--")
    _labels(ax, "Successful run duration", "minutes", legend=bool(rows))


def _lines(ax, rows, key: str, value: str, title: str, ylabel: str, scale: float = 1) -> None:
    for name in sorted({getattr(r, key) for r in rows}):
        points = [(r.day, getattr(r, value)) for r in rows if getattr(r, key) == name and getattr(r, value) is not None]
        ax.plot([p[0] for p in points], [p[1] * scale for p in points], label=name, marker=".")
    _labels(ax, title, ylabel, legend=bool(rows))


def _labels(ax, title: str, ylabel: str, legend: bool) -> None:
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    if legend:
        ax.legend(fontsize=8)
