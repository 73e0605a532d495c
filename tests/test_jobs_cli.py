"""``lakehouse-lab job run|repair|runs`` through the CLI entry point (in this process, on the test session)."""
from __future__ import annotations

import json
import sys

from lakehouse_lab import cli
from lakehouse_lab.jobs import runner

MODULE = """
import os
FLAG = {flag!r}

def needs_flag():
    if not os.path.exists(FLAG):
        raise RuntimeError("flag file missing")
    return "flag found"
"""


def test_job_run_repair_and_runs(spark, tmp_path, capsys, monkeypatch):
    flag = tmp_path / "ready.flag"
    (tmp_path / "cli_tasks.py").write_text(MODULE.format(flag=str(flag)))
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = tmp_path / "job.yaml"
    spec.write_text("name: test_cli_job\nparameters:\n  - {name: who, default: nobody}\ntasks:\n"
                    "  - task_key: hello\n    python_task: {function: 'builtins:str', kwargs: {object: '{{job.parameters.who}}'}}\n"
                    "  - task_key: gate\n    depends_on: [{task_key: hello}]\n    python_task: {function: 'cli_tasks:needs_flag'}\n")
    assert cli.main(["job", "run", str(spec), "--param", "who=lab", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["state"]["result_state"] == "FAILED"
    tasks = {t["task_key"]: t for t in out["tasks"]}
    assert tasks["hello"]["output"] == "lab" and tasks["gate"]["state"] == "FAILED"
    run_id = out["run_id"]

    flag.write_text("ok")
    runner._RUNS.pop(run_id)            # as a new process would: the run is rebuilt from system.lakeflow
    assert cli.main(["job", "repair", str(run_id)]) == 0
    text = capsys.readouterr().out
    assert f"test_cli_job run {run_id}: SUCCESS" in text and "gate" in text

    assert cli.main(["job", "runs", "--job", "test_cli_job"]) == 0
    listing = capsys.readouterr().out
    assert str(run_id) in listing and "SUCCESS" in listing


def test_invalid_spec_exits_2_before_running(tmp_path, capsys):
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps({"name": "bad", "tasks": [{"task_key": "a", "depends_on": [{"task_key": "b"}],
                                                          "python_task": {"function": "builtins:print"}}]}))
    assert cli.main(["job", "run", str(spec)]) == 2
    assert "job 'bad'" in capsys.readouterr().err


def test_a_mistyped_query_or_run_id_is_one_line_with_what_exists(spark, scratch_schema, capsys):
    spark.range(2).write.saveAsTable(f"{scratch_schema}.orders")
    assert cli.main(["sql", f"SELECT * FROM {scratch_schema}.order"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: [TABLE_OR_VIEW_NOT_FOUND]")
    assert f"Did you mean {scratch_schema}.orders?" in err
    assert cli.main(["sql", "SELEC 1"]) == 2
    assert capsys.readouterr().err.startswith("error: [PARSE_SYNTAX_ERROR]")
    assert cli.main(["job", "repair", "987654321"]) == 2
    assert "no finished job run 987654321" in capsys.readouterr().err


def test_job_run_prints_whole_errors_and_one_note_for_compute_settings(spark, tmp_path, capsys):
    import warnings

    missing = tmp_path / "a" / "rather" / "long" / "folder" / "name" / "that" / "goes" / "on" / "and_on_until_here"
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({"name": "test_cli_notes", "tasks": [{
        "task_key": "nb", "new_cluster": {"spark_version": "15.4.x-scala2.12"},
        "notebook_task": {"notebook_path": str(missing)}}]}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli.main(["job", "run", str(spec)]) == 1
    assert not [w for w in caught if "compute settings" in str(w.message)]
    out = capsys.readouterr().out
    assert str(missing) in out and out.count("compute settings") == 1
