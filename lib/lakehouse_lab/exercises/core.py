"""The exercise mechanism every notebook uses: ``q.check(answer)``, ``q.hint()``, ``q.solution()``.

A course module declares :class:`Problem` objects; a notebook imports them (``from lakehouse_lab.exercises
import nb00 as ex``), assigns the answer to the variable the problem names, and calls ``ex.q1.check()`` (as in
Kaggle Learn); ``ex.q1.check(answer)`` works too. A check has three outcomes: correct, incorrect (the
message names what is wrong, not the answer) and not attempted (the starter ``____`` left in place). Under CI
(``LAKEHOUSE_LAB_STRICT=1``, set by ``make test``) anything but correct raises, so the committed solutions are
proved to pass.

>>> q = Problem("q1", "Return 42.", check=lambda a: None if a == 42 else "That is not 42.",
...             hints=["Think of the answer."], solution="answer = 42")
>>> q.check(____).status, q.check(41).status, q.check(42).status
('not attempted', 'incorrect', 'correct')
>>> named = Problem("q2", "Set x to 1.", check=lambda a: None if a == 1 else "no", var="x")
>>> x = 1
>>> named.check().status
'correct'
"""
from __future__ import annotations

import html
import inspect
import os
from dataclasses import dataclass, field
from typing import Any, Callable


class _Blank:
    """The starter value ``____`` of an exercise cell: nothing answered yet."""

    def __repr__(self) -> str:
        return "____"


____ = _Blank()

STYLE = {"correct": ("#1b7f3b", "Correct"), "incorrect": ("#b3261e", "Incorrect"),
         "not attempted": ("#8a6d00", "Not attempted"), "hint": ("#1f5fa8", "Hint"),
         "solution": ("#555", "Solution")}


@dataclass
class Outcome:
    """What a check (or hint/solution) says; shows itself as coloured HTML in notebooks."""
    status: str
    message: str
    problem: str

    def __bool__(self) -> bool:
        return self.status == "correct"

    def _repr_html_(self) -> str:
        colour, label = STYLE[self.status]
        body = html.escape(self.message).replace("\n", "<br>")
        if self.status == "solution":
            body = f"<pre style='margin:4px 0'>{html.escape(self.message)}</pre>"
        return (f"<div style='border-left:4px solid {colour};padding:4px 10px'>"
                f"<b style='color:{colour}'>{self.problem} · {label}</b><br>{body}</div>")

    def __repr__(self) -> str:
        return f"{self.problem} · {STYLE[self.status][1]}: {self.message}"


@dataclass
class Problem:
    """One exercise. ``check(answer)`` returns an error message (str) when wrong, or None when right."""
    name: str
    prompt: str
    check_answer: Callable[[Any], str | None] = field(repr=False)
    hints: list[str] = field(default_factory=list)
    solution_code: str = ""
    var: str | None = None

    def __init__(self, name: str, prompt: str, check: Callable[[Any], str | None],
                 hints: list[str] | None = None, solution: str = "", var: str | None = None):
        self.name, self.prompt, self.check_answer = name, prompt, check
        self.hints, self.solution_code, self.var = list(hints or []), solution, var

    def check(self, answer: Any = ____) -> Outcome:
        """Check ``answer``, or (when called with no argument) the notebook variable named by ``var``."""
        if isinstance(answer, _Blank) and self.var:
            caller = inspect.currentframe().f_back
            answer = caller.f_globals.get(self.var, caller.f_locals.get(self.var, ____))
        if isinstance(answer, _Blank):
            outcome = Outcome("not attempted", "Replace ____ with your answer, then run the cell again.", self.name)
        else:
            try:
                problem = self.check_answer(answer)
            except Exception as exc:  # noqa: BLE001 - a broken answer is an incorrect answer, explained
                problem = f"Checking your answer raised {type(exc).__name__}: {exc}"
            outcome = Outcome("incorrect", problem, self.name) if problem else Outcome(
                "correct", "Well done.", self.name)
        _show(outcome)
        if not outcome and os.environ.get("LAKEHOUSE_LAB_STRICT"):
            raise AssertionError(repr(outcome))
        return outcome

    def hint(self, n: int = 1) -> Outcome:
        if not self.hints:
            return _show(Outcome("hint", "No hint for this one: re-read the lesson above.", self.name))
        n = max(1, min(n, len(self.hints)))
        more = f"\n(hint {n} of {len(self.hints)}; call hint({n + 1}) for the next)" if n < len(self.hints) else ""
        return _show(Outcome("hint", self.hints[n - 1] + more, self.name))

    def solution(self) -> Outcome:
        return _show(Outcome("solution", self.solution_code, self.name))

    def _repr_html_(self) -> str:
        return f"<div><b>{self.name}</b>: {html.escape(self.prompt)}</div>"


def _show(outcome: Outcome) -> Outcome:
    """Display in a notebook (the return value is also shown when it is the cell's last expression)."""
    try:
        from IPython import get_ipython

        if get_ipython() is not None:
            from IPython.display import display

            display(outcome)
            return _Quiet(outcome)
    except ImportError:
        pass
    return outcome


class _Quiet(Outcome):
    """An outcome already displayed: keeps its truth value but shows nothing more."""

    def __init__(self, outcome: Outcome):
        super().__init__(outcome.status, outcome.message, outcome.problem)

    def _repr_html_(self) -> str:
        return ""

    def __repr__(self) -> str:
        return ""
