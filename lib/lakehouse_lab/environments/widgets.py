"""The environment widget: a ``dbutils.widgets`` dropdown that switches the session's environment.

Choosing ``prod`` in the dropdown starts the session for prod: ``lab.table(...)`` names point at
``prod_catalog``, the loaded config is shown, and (isolation) the session may write only into prod's catalog.
Under nbval or in a job, ``dbutils.widgets.get`` returns the default or the task's parameter.

>>> from lakehouse_lab.environments import environment_widget
>>> view = environment_widget("dev")          # doctest: +SKIP
>>> view.select("prod"); view.env             # doctest: +SKIP
'prod'
"""
from __future__ import annotations

import html

from .. import config

EXAMPLE_TABLES = ("bronze.raw_orders", "silver_orders", "gold_customer_metrics")


class EnvironmentView:
    """What the selected environment means: its config and the names ``lab.table`` gives."""

    def __init__(self, name: str = "environment"):
        self.name = name
        self.env: str | None = None
        self.config: config.EnvironmentConfig | None = None
        self._output = None

    def refresh(self, env: str | None = None) -> "EnvironmentView":
        """Read the widget (or use ``env``), load that config and start the session for it."""
        import lakehouse_lab as lab

        from ..dbutils import dbutils

        env = env or dbutils.widgets.get(self.name)
        self.config = config.load_config(env)
        lab.start(env)
        self.env = env
        if self._output is not None:
            from IPython.display import HTML

            self._output.clear_output(wait=True)
            with self._output:
                from IPython.display import display

                display(HTML(self._repr_html_()))
        return self

    def select(self, env: str) -> "EnvironmentView":
        """Choose ``env`` as if picked in the dropdown (sets the widget's value when it is displayed)."""
        from ..dbutils import dbutils

        config.load_config(env)  # an unknown environment fails here, naming the valid ones
        widget = dbutils.widgets._views.get(self.name)
        if widget is not None:
            widget.value = env  # the observer refreshes
            if self.env != env:
                self.refresh(env)
        else:
            dbutils.widgets.dropdown(self.name, env, config.environments(), "Environment")
            self.refresh(env)
        return self

    def tables(self) -> dict[str, str]:
        """``{short name: three-level name}`` in the selected environment."""
        import lakehouse_lab as lab

        return {t: lab.table(t, env=self.env) for t in EXAMPLE_TABLES}

    def _repr_html_(self) -> str:
        cfg = self.config._repr_html_() if self.config else ""
        names = "".join(f"<tr><td><code>lab.table({t!r})</code></td><td><code>{html.escape(n)}</code></td></tr>"
                        for t, n in self.tables().items())
        return (f"<p><b>Environment</b> <code>{html.escape(str(self.env))}</code></p>{cfg}"
                f"<table><tr><th>call</th><th>name</th></tr>{names}</table>")


def environment_widget(default: str = "dev", name: str = "environment") -> EnvironmentView:
    """Define the ``environment`` dropdown (dev/staging/prod), start the session for its value, and keep
    the session in step when the learner changes it."""
    from ..dbutils import dbutils

    choices = config.environments()
    config.load_config(default)
    dbutils.widgets.dropdown(name, default, choices, "Environment")
    view = EnvironmentView(name).refresh()
    widget = dbutils.widgets._views.get(name)
    if widget is not None:
        import ipywidgets
        from IPython.display import display

        view._output = ipywidgets.Output()
        widget.observe(lambda change: view.refresh(str(change["new"])), names="value")
        display(view._output)
        view.refresh()
    return view
