"""One Spark driver, many Python processes: a job's notebook and Python-file tasks attach to the driver that runs
the job, as notebooks attach to a Databricks cluster.

A task still runs in its own process and kernel (its timeout can kill it; its variables are its own), but it
does not start a JVM of its own: :func:`serve_child` opens a private Py4J server in the driver for one child
process, and the child's ``lab.start()`` :func:`attach`\\ es to it. The child gets a new SparkSession of the same
SparkContext: its own temporary views, SQL settings and current catalog, the JVM's warm code and caches. Each
child has its own Py4J server because the JVM calls Python back (``foreachBatch``) through its server's single
callback address; a shared one would send the parent's callbacks to the child.

>>> import lakehouse_lab as lab
>>> spark = lab.start()                                                      # doctest: +SKIP
>>> with serve_child(spark, "run-1-task") as env:                            # doctest: +SKIP
...     subprocess.run([sys.executable, "task.py"], env={**os.environ, **env})
"""
from __future__ import annotations

import contextlib
import os

ENV_PORT, ENV_SECRET = "PYSPARK_GATEWAY_PORT", "PYSPARK_GATEWAY_SECRET"  # read by PySpark's launch_gateway
ENV_GROUP = "LAKEHOUSE_LAB_JOB_GROUP"
ENV_OFF = "LAKEHOUSE_LAB_OWN_DRIVER"  # set to 1: every task and kernel starts its own JVM
_state = {"attached": False}


def enabled() -> bool:
    """Whether tasks and kernels may attach to a running driver (``LAKEHOUSE_LAB_OWN_DRIVER=1`` turns it off)."""
    return os.environ.get(ENV_OFF, "") not in {"1", "true", "yes"}


@contextlib.contextmanager
def serve_child(spark, job_group: str):
    """Environment variables that let one child process attach to ``spark``'s driver.

    On leaving the block the child's Spark jobs are cancelled (its ``job_group``) and its server is shut down,
    so a task killed at its timeout leaves nothing running."""
    server = open_server(spark)
    try:
        yield {ENV_PORT: str(server.getListeningPort()), ENV_SECRET: server.secret(), ENV_GROUP: job_group}
    finally:
        close_server(spark, server, job_group)


def open_server(spark):
    """A new Py4J server in ``spark``'s driver for one process to attach to (with its own secret and callbacks)."""
    server = spark._jvm.org.apache.spark.api.python.Py4JServer(spark.sparkContext._jsc.sc().conf())
    server.start()
    return server


def close_server(spark, server, job_group: str) -> None:
    """Cancel the attached process's running Spark jobs and shut its server."""
    spark.sparkContext.cancelJobGroup(job_group)
    server.shutdown()


def runner_address() -> tuple[str, str, str] | None:
    """``(port, secret, job group)`` when the job runner started this process to attach (:func:`serve_child`)."""
    if ENV_PORT in os.environ and ENV_GROUP in os.environ:
        return os.environ[ENV_PORT], os.environ[ENV_SECRET], os.environ[ENV_GROUP]
    return None


def attached() -> bool:
    """Whether this process's session lives in another process's driver (a job task, a kernel on the cluster)."""
    return _state["attached"]


def attach(port: str, secret: str, job_group: str):
    """A new SparkSession on the driver behind the Py4J server at ``port``; Spark jobs of this thread are
    tagged ``job_group`` (the driver cancels them when this process ends)."""
    from pyspark import SparkContext
    from pyspark.java_gateway import launch_gateway
    from pyspark.sql import SparkSession

    os.environ.update({ENV_PORT: port, ENV_SECRET: secret})
    try:
        gateway = launch_gateway()  # connects to the server named by PYSPARK_GATEWAY_PORT, starts no JVM
    finally:  # consumed: a process this one starts must not share its server
        for name in (ENV_PORT, ENV_SECRET, ENV_GROUP):
            os.environ.pop(name, None)
    jvm = gateway.jvm
    SparkContext._ensure_initialized(gateway=gateway)
    driver_context = jvm.org.apache.spark.SparkContext.getOrCreate()
    context = SparkContext(gateway=gateway, jsc=jvm.org.apache.spark.api.java.JavaSparkContext(driver_context))
    default = jvm.org.apache.spark.sql.SparkSession.getDefaultSession().get()
    spark = SparkSession(context, jsparkSession=default.newSession())
    # PySpark made the new session the JVM's default; threads of the driver that have no session of their own
    # must keep resolving names in the driver's session
    jvm.org.apache.spark.sql.SparkSession.setDefaultSession(default)
    context.setJobGroup(job_group, "attached process", True)
    _state["attached"] = True
    return spark
