"""Notebook and spark_python_task tasks run in their own kernel/process: parameters reach
``dbutils.widgets.get``, task values and exit values come back, timeouts kill the kernel, a dead kernel fails
the attempt and is retried."""
from __future__ import annotations

import nbformat
import psutil

from lakehouse_lab import jobs


def _notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return str(path)


HEADER = "from lakehouse_lab.dbutils import dbutils\nimport os"


def test_notebook_and_python_file_tasks(spark, tmp_path):
    greet = _notebook(tmp_path / "greet.ipynb", HEADER,
                      "dbutils.widgets.text('greeting', 'hi')\n"
                      "assert os.environ['LAKEHOUSE_LAB_ENTITY_TYPE'] == 'JOB'\n"
                      "msg = dbutils.widgets.get('greeting') + ' ' + dbutils.widgets.get('who')\n"
                      "dbutils.jobs.taskValues.set('message', msg)",
                      "dbutils.notebook.exit(msg.upper())",
                      "raise AssertionError('cells after exit must not run')")
    pid_file = tmp_path / "kernel.pid"
    hang = _notebook(tmp_path / "hang.ipynb", HEADER,
                     f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\nimport time\ntime.sleep(120)")
    crash = _notebook(tmp_path / "crash.ipynb", HEADER, "import signal\nos.kill(os.getpid(), signal.SIGKILL)")
    script = tmp_path / "report.py"
    script.write_text("import sys\nfrom lakehouse_lab.dbutils import dbutils\n"
                      "dbutils.jobs.taskValues.set('args', sys.argv[1:])\n"
                      "assert dbutils.jobs.taskValues.get('greet', 'message') == 'hello lab'\n")
    job = {"name": "test_notebooks", "parameters": [{"name": "who", "default": "lab"}], "tasks": [
        {"task_key": "greet", "notebook_task": {"notebook_path": greet, "base_parameters": {"greeting": "hello"}}},
        {"task_key": "report", "depends_on": [{"task_key": "greet"}], "spark_python_task": {
            "python_file": str(script), "parameters": ["{{tasks.greet.values.message}}", "{{job.run_id}}"]}},
        {"task_key": "hang", "depends_on": [{"task_key": "greet"}], "timeout_seconds": 30,
         "notebook_task": {"notebook_path": hang}},
        {"task_key": "crash", "depends_on": [{"task_key": "greet"}], "max_retries": 1,
         "notebook_task": {"notebook_path": crash}}]}
    run = jobs.run_job(job)
    greet_run = run.tasks["greet"]
    assert greet_run.state == "SUCCESS", greet_run.error
    assert greet_run.values == {"message": "hello lab"} and greet_run.output == "HELLO LAB"
    assert run.tasks["report"].state == "SUCCESS", run.tasks["report"].error
    assert run.tasks["report"].values["args"] == ["hello lab", str(run.run_id)]
    assert run.tasks["hang"].state == "TIMEDOUT"
    kernel = int(pid_file.read_text())
    assert not psutil.pid_exists(kernel) or psutil.Process(kernel).status() == psutil.STATUS_ZOMBIE
    crash_run = run.tasks["crash"]
    assert [a.state for a in crash_run.attempts] == ["FAILED", "FAILED"]
    assert "Kernel" in crash_run.error or "kernel" in crash_run.error
    assert run.result_state == "FAILED"


ATTACHED = HEADER + "\nimport lakehouse_lab as lab\nspark = lab.start()"


def test_tasks_attach_to_the_runners_driver(spark, scratch_schema, tmp_path):
    """A notebook task's Spark is the runner's (one JVM), in a session of its own; its writes are the job
    run's in lineage; its foreachBatch calls reach it and the runner's still reach the runner; a timed-out
    task's Spark job is cancelled with it."""
    source, target = f"{scratch_schema}.attach_src", f"{scratch_schema}.attach_out"
    spark.range(5).write.saveAsTable(source)
    write = _notebook(tmp_path / "write.ipynb", ATTACHED,
                      "spark.range(3).createOrReplaceTempView('task_only_view')\n"
                      f"spark.table({source!r}).write.saveAsTable({target!r})\n"
                      "seen = []\n"
                      f"q = (spark.readStream.table({target!r}).writeStream\n"
                      "     .foreachBatch(lambda df, _id: seen.append(df.count())).trigger(availableNow=True).start())\n"
                      "q.awaitTermination()\n"
                      "dbutils.jobs.taskValues.set('app', spark.sparkContext.applicationId)\n"
                      "dbutils.jobs.taskValues.set('streamed', sum(seen))")
    slow = _notebook(tmp_path / "slow.ipynb", ATTACHED, "spark.range(10**12).selectExpr('max(id)').collect()")
    run = jobs.run_job({"name": "attached_tasks", "tasks": [
        {"task_key": "write", "notebook_task": {"notebook_path": write}},
        {"task_key": "slow", "depends_on": [{"task_key": "write"}], "timeout_seconds": 25,
         "notebook_task": {"notebook_path": slow}}]})
    written = run.tasks["write"]
    assert written.state == "SUCCESS", written.error
    assert written.values == {"app": spark.sparkContext.applicationId, "streamed": 5}
    assert not spark.catalog.tableExists("task_only_view")
    seen = []
    (spark.readStream.table(target).writeStream.foreachBatch(lambda df, _id: seen.append(df.count()))
     .trigger(availableNow=True).start().awaitTermination())
    assert seen == [5]
    import lakehouse_lab as lab

    lab.lineage.flush()
    entities = spark.sql("SELECT DISTINCT entity_type, entity_run_id FROM system.access.table_lineage "
                         "WHERE target_table_full_name = :t", args={"t": target}).collect()
    assert [tuple(r) for r in entities] == [("JOB", str(run.run_id))]
    assert run.tasks["slow"].state == "TIMEDOUT"
    assert list(spark.sparkContext.statusTracker().getActiveJobsIds()) == []
