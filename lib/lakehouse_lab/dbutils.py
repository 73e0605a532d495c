"""A Databricks-compatible ``dbutils``: widgets, job task values and notebook exit.

Inside a job task (a notebook kernel, a ``spark_python_task`` or a Python callable run by
``lakehouse_lab.jobs``) widget values come from the task's parameters (``base_parameters`` and job
parameters); in an interactive notebook ``dbutils.widgets.text(...)`` shows an ipywidget and ``get`` reads
its current value; elsewhere (nbval, scripts) ``get`` returns the widget's default.

>>> from lakehouse_lab.dbutils import dbutils
>>> dbutils.widgets.text("environment", "dev", "Environment")
>>> dbutils.widgets.get("environment")
'dev'
>>> dbutils.jobs.taskValues.get("ingest", "rows", debugValue=0)
0
>>> dbutils.widgets.removeAll()
"""
from __future__ import annotations

import json

from .jobs import context as _context


class InputWidgetNotDefined(KeyError):
    """``dbutils.widgets.get`` of a name that is neither a widget nor a task parameter."""


class NotebookExit(Exception):
    """Raised by ``dbutils.notebook.exit`` inside a job's notebook task to end the notebook successfully."""


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython

        shell = get_ipython()
        return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"
    except ImportError:
        return False


class _Widgets:
    """``dbutils.widgets``: ``text``, ``dropdown``, ``combobox``, ``multiselect``, ``get``, ``getAll``, ``remove``."""

    def __init__(self) -> None:
        self._defaults: dict[str, str] = {}
        self._views: dict[str, object] = {}

    def _define(self, name: str, default: str, label: str | None, view_factory) -> None:
        self._defaults[name] = str(default)
        if _context.current() is None and _in_kernel():
            from IPython.display import display

            view = view_factory(label or name)
            self._views[name] = view
            display(view)

    def text(self, name: str, defaultValue: str, label: str | None = None) -> None:
        """A text widget named ``name`` with a default value."""
        def view(desc):
            import ipywidgets

            return ipywidgets.Text(value=str(defaultValue), description=desc)
        self._define(name, defaultValue, label, view)

    def dropdown(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        """A dropdown widget; ``defaultValue`` must be one of ``choices``."""
        choices = [str(c) for c in choices]
        if str(defaultValue) not in choices:
            raise ValueError(f"widget {name!r}: default {defaultValue!r} is not one of {choices}")

        def view(desc):
            import ipywidgets

            return ipywidgets.Dropdown(options=choices, value=str(defaultValue), description=desc)
        self._define(name, defaultValue, label, view)

    combobox = dropdown

    def multiselect(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        """A multi-choice widget; ``get`` returns the chosen values joined by commas, as on Databricks.

        >>> from lakehouse_lab.dbutils import dbutils
        >>> dbutils.widgets.multiselect("regions", "EU", ["EU", "US", "APAC"])
        >>> dbutils.widgets.get("regions")
        'EU'
        """
        choices = [str(c) for c in choices]
        if str(defaultValue) not in choices:
            raise ValueError(f"widget {name!r}: default {defaultValue!r} is not one of {choices}")

        def view(desc):
            import ipywidgets

            return ipywidgets.SelectMultiple(options=choices, value=(str(defaultValue),), description=desc)
        self._define(name, defaultValue, label, view)

    def get(self, name: str) -> str:
        """The task parameter ``name`` in a job run, else the widget's current value."""
        ctx = _context.current()
        if ctx is not None and name in ctx.parameters:
            return ctx.parameters[name]
        if name in self._views:
            value = self._views[name].value
            return ",".join(value) if isinstance(value, tuple) else str(value)
        if name in self._defaults:
            return self._defaults[name]
        known = sorted({*self._defaults, *(ctx.parameters if ctx else {})})
        raise InputWidgetNotDefined(f"No input widget named {name!r} is defined "
                                    f"(defined: {', '.join(known) or 'none'})")

    getArgument = get

    def getAll(self) -> dict[str, str]:
        """Every widget and task parameter with its current value."""
        ctx = _context.current()
        names = {*self._defaults, *(ctx.parameters if ctx else {})}
        return {n: self.get(n) for n in sorted(names)}

    def remove(self, name: str) -> None:
        if name not in self._defaults:
            raise InputWidgetNotDefined(f"No input widget named {name!r} is defined")
        self._defaults.pop(name)
        view = self._views.pop(name, None)
        if view is not None:
            view.close()

    def removeAll(self) -> None:
        for name in list(self._defaults):
            self.remove(name)


class _TaskValues:
    """``dbutils.jobs.taskValues``: share small JSON values between the tasks of one job run."""

    def set(self, key: str, value) -> None:
        """Set ``key`` for the current task (JSON-serialisable, ≤ 48 KiB). Outside a job run: checked, kept."""
        ctx = _context.current()
        if ctx is None:
            encoded = json.dumps(value)
            if len(encoded.encode()) > _context.MAX_VALUE_BYTES:
                raise ValueError(f"task value {key!r} exceeds 48 KiB as JSON")
            return
        ctx.set_value(key, value)

    def get(self, taskKey: str, key: str, default=None, debugValue=None):
        """The value ``key`` set by upstream task ``taskKey`` in this run; ``debugValue`` outside a job."""
        ctx = _context.current()
        if ctx is None:
            if debugValue is None:
                raise TypeError("taskValues.get outside a job run needs debugValue=")
            return debugValue
        if taskKey == ctx.task_key and key in ctx.values:
            return ctx.values[key]
        values = ctx.upstream_values.get(taskKey, {})
        if key in values:
            return values[key]
        if default is None:
            raise ValueError(f"task {taskKey!r} set no value {key!r} in run {ctx.run_id} "
                             f"(values: {sorted(values) or 'none'}); pass default=")
        return default


class _Jobs:
    def __init__(self) -> None:
        self.taskValues = _TaskValues()


class _Notebook:
    def exit(self, value=None):
        """End the notebook with a result string (the task's ``notebook_output.result``)."""
        ctx = _context.current()
        if ctx is None:
            print(f"Notebook exited: {value}")
            return value
        ctx.exit(value)
        if _in_kernel() and ctx.exit_path:
            raise NotebookExit(str(value))
        return value


class DBUtils:
    """The ``dbutils`` object: ``widgets``, ``jobs.taskValues``, ``notebook.exit``."""

    def __init__(self) -> None:
        self.widgets = _Widgets()
        self.jobs = _Jobs()
        self.notebook = _Notebook()

    def __repr__(self) -> str:
        return "dbutils (lakehouse_lab): widgets, jobs.taskValues, notebook.exit"


dbutils = DBUtils()
