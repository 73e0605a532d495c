"""Runs one notebook task in its own kernel: ``python -m lakehouse_lab.jobs.notebook_worker CONTEXT IN OUT``.

The task's parameters are injected by papermill (a ``parameters`` cell if the notebook has one) and are
readable with ``dbutils.widgets.get`` through the context file named by ``LAKEHOUSE_LAB_TASK_CONTEXT``. A
notebook that calls ``dbutils.notebook.exit(value)`` ends successfully with that value. The runner kills this
process and its kernel when the task times out.
"""
from __future__ import annotations

import json
import sys


def main(context_file: str, notebook: str, output: str) -> int:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    parameters = json.load(open(context_file))["parameters"]
    try:
        papermill.execute_notebook(notebook, output, parameters=parameters, kernel_name="python3",
                                   progress_bar=False, log_output=False, cwd=None)
    except PapermillExecutionError as exc:
        if exc.ename == "NotebookExit":
            return 0
        print(f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
