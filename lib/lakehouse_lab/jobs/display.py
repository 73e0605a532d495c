"""How jobs and runs look in a notebook: the task graph (graphviz, coloured by state with attempt counts),
a Gantt chart of attempts (matplotlib) and an HTML summary table.

>>> from lakehouse_lab.jobs import job_from_dependencies
>>> dot = job_graph(job_from_dependencies("g", {"a": [], "b": ["a"]}, task_factory=lambda k: print))
>>> "a -> b" in dot.source
True
"""
from __future__ import annotations

from html import escape

COLOURS = {"SUCCESS": "#7bc47f", "FAILED": "#e57373", "TIMEDOUT": "#ff8a65", "UPSTREAM_FAILED": "#f3c1c1",
           "EXCLUDED": "#d9d9d9", "CANCELED": "#bdbdbd", "RUNNING": "#64b5f6", "PENDING": "#ffffff",
           "MAXIMUM_CONCURRENT_RUNS_REACHED": "#eeeeee", "INTERNAL_ERROR": "#b71c1c"}


def job_graph(job, run=None):
    """A ``graphviz.Digraph`` of the job; with a run, tasks are filled by state and show their attempts."""
    import graphviz

    dot = graphviz.Digraph(job.name, graph_attr={"rankdir": "LR"}, node_attr={"shape": "box", "style": "rounded,filled",
                                                                              "fontname": "Helvetica", "fontsize": "10"})
    for task in job.tasks:
        label = f"{task.task_key}\n{task.kind().replace('_task', '')}"
        fill = "#ffffff"
        if run is not None:
            record = run.tasks[task.task_key]
            tries = f", {record.attempt_count} attempts" if record.attempt_count > 1 else ""
            label += f"\n{record.state}{tries}"
            fill = COLOURS.get(record.state, "#ffffff")
        if task.run_if != "ALL_SUCCESS":
            label += f"\nrun_if {task.run_if}"
        dot.node(task.task_key, label, fillcolor=fill)
        for dep in task.depends_on:
            dot.edge(dep.task_key, task.task_key, label=dep.outcome or "", style="dashed" if task.run_if in
                     ("AT_LEAST_ONE_FAILED", "ALL_FAILED") else "solid")
    return dot


def gantt(run):
    """A matplotlib figure: one bar per task attempt, coloured by its state."""
    import matplotlib.pyplot as plt

    rows = [(key, a) for key, t in run.tasks.items() for a in t.attempts if a.end_time is not None]
    fig, ax = plt.subplots(figsize=(8, 0.4 * max(len(run.tasks), 2) + 1))
    keys = list(run.tasks)
    for key, a in rows:
        start = (a.start_time - run.start_time).total_seconds()
        width = max((a.end_time - a.start_time).total_seconds(), 0.01)
        ax.barh(keys.index(key), width, left=start, color=COLOURS.get(a.state, "#999"), edgecolor="black")
        ax.text(start + width, keys.index(key), f" #{a.attempt_number} {a.state}", va="center", fontsize=8)
    ax.set_yticks(range(len(keys)), keys)
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the run started")
    ax.set_title(f"{run.job.name} — run {run.run_id}: {run.result_state or run.state}")
    fig.tight_layout()
    plt.close(fig)
    return fig


def run_html(run) -> str:
    """The run summary: state, duration, per task state/attempts/error, and the graph as inline SVG."""
    rows = "".join(
        f"<tr><td>{escape(k)}</td><td style='background:{COLOURS.get(t.state, '#fff')}'>{t.state}</td>"
        f"<td>{t.attempt_count}</td><td>{escape(str(t.output or ''))[:80]}</td>"
        f"<td>{escape((t.error or '').splitlines()[0][:160]) if t.error else ''}</td></tr>"
        for k, t in run.tasks.items())
    try:
        svg = job_graph(run.job, run).pipe(format="svg").decode()
    except Exception:  # noqa: BLE001 - no dot binary: the table still shows
        svg = ""
    notices = "".join(f"<li>{escape(n)}</li>" for n in run.notices)
    return (f"<div><b>{escape(run.job.name)}</b> run {run.run_id}: <b>{run.result_state or run.state}</b> "
            f"in {run.duration_seconds:.1f} s" + (f" (repaired {run.repair_count}×)" if run.repair_count else "") +
            f"<table><tr><th>task</th><th>state</th><th>attempts</th><th>output</th><th>error</th></tr>{rows}</table>"
            f"{svg}<ul>{notices}</ul></div>")
