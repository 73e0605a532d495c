"""What every troubleshooting drill shares: the resolution flow, the stages, the verdict, the display.

A drill walks the course's resolution flow (seed §6): *Issue Detected → issue type → two checks →
Resolution Applied → Monitor & Validate*. Each public step records its evidence and moves the drill's
stage on; the notebook shows the drill (``_repr_html_``) with the steps reached so far highlighted.

>>> flow = resolution_flow("Job Failure", reached=2)
>>> "Analyze Error Logs" in flow.source and "Resolution Applied" in flow.source
True
>>> bool(Verdict(False, "still failing", {}))
False
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field

ISSUE_STEPS = {
    "Lineage Missing": ("Check Unity Catalog Registration", "Verify Table Operations"),
    "DLT Failure": ("Review Pipeline Events", "Check Data Quality Rules"),
    "Job Failure": ("Analyze Error Logs", "Review Task Dependencies"),
    "Performance": ("Check Resource Usage", "Optimize Cluster Config"),
}
STAGES = ("ready", "injected", "detected", "diagnosed", "fixed", "verified")
# How many nodes of the drill's path through the flow each stage has reached (see _path).
_REACHED = {"ready": 0, "injected": 0, "detected": 3, "diagnosed": 4, "fixed": 5, "verified": 6}
_COLOURS = {"Issue Detected": "#FF6B6B", "Issue Type?": "#FFA07A", "Resolution Applied": "#4ECDC4",
            "Monitor & Validate": "#45B7D1"}


class DrillError(RuntimeError):
    """A drill step was called out of order (e.g. ``detect()`` before ``inject()``)."""


@dataclass
class Verdict:
    """What ``verify()`` found: ``ok`` (also the truth value), a one-line summary and the evidence."""

    ok: bool
    summary: str
    evidence: dict = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.ok

    def _repr_html_(self) -> str:
        colour, label = ("#1b7f3b", "Fixed") if self.ok else ("#b3261e", "Not fixed")
        return (f"<div style='border-left:4px solid {colour};padding:4px 10px'><b style='color:{colour}'>{label}"
                f"</b> · {html.escape(self.summary)}{_table(self.evidence)}</div>")


def _path(issue_type: str) -> list[str]:
    first, second = ISSUE_STEPS[issue_type]
    return ["Issue Detected", "Issue Type?", first, second, "Resolution Applied", "Monitor & Validate"]


def resolution_flow(issue_type: str | None = None, reached: int = 0):
    """The seed's resolution flow as a ``graphviz.Digraph``; the first ``reached`` steps of ``issue_type``'s
    path are filled, the others are outlined."""
    import graphviz

    dot = graphviz.Digraph("resolution_flow", graph_attr={"rankdir": "TB", "nodesep": "0.25", "ranksep": "0.3"},
                           node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica",
                                      "fontsize": "10"})
    lit = set(_path(issue_type)[:reached]) if issue_type else set(_COLOURS) | {s for p in ISSUE_STEPS.values() for s in p}
    for name in ("Issue Detected", "Resolution Applied", "Monitor & Validate"):
        dot.node(name, fillcolor=_COLOURS[name] if name in lit else "#ffffff")
    dot.node("Issue Type?", shape="diamond", fillcolor=_COLOURS["Issue Type?"] if "Issue Type?" in lit else "#ffffff")
    dot.edge("Issue Detected", "Issue Type?")
    for kind, (first, second) in ISSUE_STEPS.items():
        mine = issue_type is None or kind == issue_type
        for step in (first, second):
            dot.node(step, fillcolor="#ffe08a" if step in lit and issue_type else "#f5f5f5" if mine else "#ffffff",
                     color="#333333" if mine else "#bbbbbb", fontcolor="#000000" if mine else "#999999")
        dot.edge("Issue Type?", first, label=kind, fontsize="9")
        dot.edge(first, second)
        dot.edge(second, "Resolution Applied")
    dot.edge("Resolution Applied", "Monitor & Validate")
    return dot


class Drill:
    """Base of the drills: ``inject()``, ``detect()``, ``diagnose()``, ``fix()``, ``verify()``, in that order.

    Subclasses implement ``_inject``, ``_detect``, ``_diagnose``, ``_fix`` and ``_verify`` and set ``name``,
    ``title``, ``issue_type`` (a key of :data:`ISSUE_STEPS`) and ``lesson``."""

    name = "drill"
    title = "A drill"
    issue_type = "Job Failure"
    lesson = ""

    def __init__(self, schema: str = "drills"):
        import lakehouse_lab as lab

        self.spark = lab.start()
        self.catalog = lab.current_config().database.catalog
        self.schema = schema
        self.stage = "ready"
        self.evidence: dict = {}
        self.spark.sql("CREATE SCHEMA IF NOT EXISTS IDENTIFIER(:s)", args={"s": f"{self.catalog}.{schema}"})

    # -- names and helpers ----------------------------------------------------------------------------
    def table(self, suffix: str) -> str:
        """The full name of one of this drill's tables: ``<catalog>.<schema>.<drill>_<suffix>``."""
        return f"{self.catalog}.{self.schema}.{self.name}_{suffix}"

    def folder(self, *parts: str):
        """A folder of this drill under the lab root (pipeline sources, files written by path)."""
        from ... import paths

        return paths.under(paths.lab_root(), "drills", self.schema, self.name, *parts)

    def sql(self, query: str, **args):
        """``spark.sql(query, args=args)``: every value reaches the query as a parameter."""
        return self.spark.sql(query, args=args)

    # -- the resolution flow --------------------------------------------------------------------------
    def _require(self, stage: str) -> None:
        if STAGES.index(self.stage) < STAGES.index(stage):
            raise DrillError(f"drill {self.name!r} is at stage {self.stage!r}: run the step that reaches "
                             f"{stage!r} first (order: inject, detect, diagnose, fix, verify)")

    def _advance(self, stage: str, evidence):
        if STAGES.index(stage) > STAGES.index(self.stage):
            self.stage = stage
        self.evidence[stage] = evidence
        return evidence

    def inject(self):
        """Create the fault on the real engines and run what it breaks; returns what ran."""
        return self._advance("injected", self._inject())

    def detect(self):
        """The evidence of the issue from the ``system`` tables (a Spark DataFrame)."""
        self._require("injected")
        return self._advance("detected", self._detect())

    def diagnose(self) -> dict:
        """The cause, from events, logs, plans or lineage (a small dict)."""
        self._require("injected")
        return self._advance("diagnosed", self._diagnose())

    def fix(self):
        """Apply the fix a data engineer would apply; returns what changed."""
        self._require("injected")
        return self._advance("fixed", self._fix())

    def verify(self) -> Verdict:
        """Run again and check; a falsy :class:`Verdict` while the issue is still there."""
        self._require("injected")
        verdict = self._verify()
        if verdict.ok:
            self._advance("verified", verdict)
        else:
            self.evidence["verified"] = verdict
        return verdict

    def run(self) -> Verdict:
        """All five steps; returns the verdict."""
        for step in (self.inject, self.detect, self.diagnose, self.fix):
            step()
        return self.verify()

    # -- display --------------------------------------------------------------------------------------
    def flow(self):
        """The resolution flow with this drill's steps so far filled in (a ``graphviz.Digraph``)."""
        return resolution_flow(self.issue_type, _REACHED[self.stage])

    def _repr_html_(self) -> str:
        first, second = ISSUE_STEPS[self.issue_type]
        steps = {"ready": "not started: call inject()", "injected": "fault injected: call detect()",
                 "detected": f"Issue Detected → {self.issue_type} → {first}",
                 "diagnosed": f"{second}", "fixed": "Resolution Applied", "verified": "Monitor & Validate: fixed"}
        try:
            svg = self.flow().pipe(format="svg").decode()
        except Exception as exc:  # noqa: BLE001 - no `dot` binary: the text still says where we are
            svg = f"<i>(flow chart unavailable: {html.escape(str(exc))})</i>"
        facts = {k: v for k, v in self.evidence.items() if isinstance(v, dict)}
        return (f"<div><b>{html.escape(self.title)}</b> <code>{self.name}</code> · issue type "
                f"<b>{self.issue_type}</b> · stage <b>{self.stage}</b> ({html.escape(steps[self.stage])})"
                f"<div style='display:flex;gap:16px;align-items:flex-start'><div style='max-width:420px'>{svg}</div>"
                f"<div>{''.join(f'<p><b>{k}</b>{_table(v)}</p>' for k, v in facts.items())}</div></div></div>")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} stage={self.stage}>"


def _table(values: dict) -> str:
    rows = "".join(f"<tr><td style='text-align:left'>{html.escape(str(k))}</td><td style='text-align:left'>"
                   f"{html.escape(_short(v))}</td></tr>" for k, v in values.items())
    return f"<table>{rows}</table>" if rows else ""


def _short(value, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + " …"
