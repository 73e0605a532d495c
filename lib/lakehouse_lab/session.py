"""One configured SparkSession per process: Delta Lake, the shared lab catalogs, quiet logs, small shuffles.

>>> import lakehouse_lab as lab
>>> spark = lab.start()                      # doctest: +SKIP
>>> spark is lab.start()                     # doctest: +SKIP
True
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import catalog, class_archive, cluster, config, driver, lineage, paths
from .jvm import jvm_class

_state: dict = {"spark": None, "env": None}

LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stdout.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
# PySpark's gateway at the root's level: Spark then does not print its "Setting default log level" hint
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
# A failing task, write or stream is raised to the code that ran it (and the lab reports it there); these loggers
# would print the same failure again, each with its stack trace (~850 lines for one failed expectation)
logger.executor.name = org.apache.spark.executor.Executor
logger.executor.level = fatal
logger.tasksets.name = org.apache.spark.scheduler.TaskSetManager
logger.tasksets.level = fatal
logger.writer.name = org.apache.spark.sql.execution.datasources.FileFormatWriter
logger.writer.level = fatal
logger.deltawriter.name = org.apache.spark.sql.delta.files.DeltaFileFormatWriter
logger.deltawriter.level = fatal
logger.streams.name = org.apache.spark.sql.execution.streaming
logger.streams.level = fatal
# Once a query observed metrics (every pipeline update does), Spark's own metrics listener throws on each query that
# fails analysis and this bus prints that with a long stack trace; the query's error is raised to its caller as usual
logger.listeners.name = org.apache.spark.sql.util.ExecutionListenerBus
logger.listeners.level = fatal
"""


class LabError(RuntimeError):
    """A lab set-up problem; the message says what to install or run."""


def current_env() -> str:
    """The environment of the running session (``dev`` before any start)."""
    return _state["env"] or os.environ.get("LAKEHOUSE_LAB_ENV", "dev")


def current_config() -> config.EnvironmentConfig:
    return config.load_config(current_env())


def start(env: str | None = None, app_name: str = "lakehouse-lab"):
    """Start (or return) the lab's SparkSession and select ``env``'s catalog and schema.

    A second call returns the same session; a call with another environment switches the current catalog.
    """
    env = env or current_env()
    cfg = config.load_config(env)  # raises a ConfigError listing valid environments
    spark = _state["spark"]
    if spark is None or spark.sparkContext._jsc is None:
        address = driver.runner_address() or (cluster.attach_address() if driver.enabled() else None)
        spark = _attach_session(cfg, address) if address else _build_session(cfg, app_name)
        _prepare(spark)
        _state["spark"] = spark
    _state["env"] = env
    catalog.use(spark, cfg.database.catalog, cfg.database.schema_name)
    _isolate(spark, env, cfg)
    return spark


def _isolate(spark, env: str, cfg: config.EnvironmentConfig) -> None:
    """Let this session write only into its environment's catalog and ``system`` (enforced by LabCatalog)."""
    spark.conf.set("spark.lakehouse_lab.environment", env)
    spark.conf.set(catalog.WRITABLE_CATALOGS_CONF, f"{cfg.database.catalog},{catalog.SYSTEM_CATALOG}")


def stop() -> None:
    """Stop the lab's SparkSession (the tables stay on disk for other kernels).

    A process attached to another's driver (a job task, a kernel on the lab cluster) keeps its session: the
    driver belongs to the other process."""
    if driver.attached():
        return
    if _state["spark"] is not None:
        lineage.flush(_state["spark"])  # captured rows wait in this driver's buffer until a read or the stop
        _state["spark"].stop()
    _state.update(spark=None)


def _check_java() -> None:
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        raise LabError("Java 17 is required and was not found. Install it: "
                       "`sudo apt-get install openjdk-17-jre-headless` (conda: `conda install openjdk=17`).")


def _build_session(cfg: config.EnvironmentConfig, app_name: str):
    _check_java()
    from pyspark.sql import SparkSession

    root = paths.lab_root()
    jar_files = class_archive.session_class_path()
    log4j = paths.under(root, "conf") / "log4j2.properties"
    log4j.write_text(LOG4J)
    settings = {
        # on the driver's class path from its first moment: Spark opens local files (LocalFiles, below) before it
        # would load `spark.jars`; one JVM runs driver and tasks, so nothing needs shipping to executors
        "spark.driver.extraClassPath": os.pathsep.join(str(j) for j in jar_files),
        # the parallel collector, not G1: on a 2g driver, full refreshes 17 % faster and small updates 5 % (see
        # README, "JVM settings"); LAKEHOUSE_LAB_JAVA_OPTIONS="-XX:-UseParallelGC -XX:+UseG1GC" goes back
        "spark.driver.extraJavaOptions": " ".join([f"-Dlog4j.configurationFile=file:{log4j}", "-XX:+UseParallelGC",
                                                   *class_archive.java_options(jar_files)]),
        # Delta's SQL, the lab's check that refuses writes outside the session's environment, then Databricks-only
        # statements (USE CATALOG) rewritten for the parser
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension,io.lakehouselab.IsolationExtension,"
                                "io.lakehouselab.DatabricksSqlExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        # no metastore: the lab catalogs keep their tables as folders under the warehouse (LabCatalog)
        "spark.sql.catalogImplementation": "in-memory",
        "spark.sql.sources.default": "delta",
        "spark.sql.warehouse.dir": str(paths.under(root, "warehouse")),
        "spark.sql.shuffle.partitions": str(cfg.compute.shuffle_partitions),
        "spark.default.parallelism": str(cfg.compute.local_cores),
        # The lab's tables are small and written often; every overwrite/MERGE rebuilds the table state with Spark
        # jobs. One partition per rebuild, a checkpoint every 100 commits (not 10: each checkpoint adds ~5 jobs)
        # and no file-list self-check at checkpoints: ~15 % less time per small write, measured side by side.
        "spark.databricks.delta.snapshotPartitions": "1",
        "spark.databricks.delta.properties.defaults.checkpointInterval": "100",
        "spark.databricks.delta.allFilesInCrc.enabled": "false",
        # Hadoop's local file system without its native library forks `readlink`/`chmod` on every rename and
        # create (~160 processes per incremental pipeline update); LocalFiles asks java.nio instead
        "spark.hadoop.fs.file.impl": "io.lakehouselab.LocalFiles",
        "spark.hadoop.fs.AbstractFileSystem.file.impl": "io.lakehouselab.LocalFiles$Fs",
        "spark.sql.streaming.checkpointLocation": str(paths.under(root, "checkpoints", "_default")),
        "spark.ui.showConsoleProgress": "false",
        "spark.ui.enabled": "false" if os.environ.get("CI") else "true",
        "spark.driver.memory": "2g",
        "spark.local.dir": str(paths.under(root, "tmp")),
        "spark.sql.session.timeZone": "UTC",
        # Delta's SQL parser drops `spark.sql(q, args=...)` parameters on Spark 4.1 (delta-io/delta#7640)
        "spark.sql.legacy.parameterSubstitution.constantsOnly": "true",
        **catalog.spark_conf(),
    }
    builder = SparkSession.builder.master(f"local[{cfg.compute.local_cores}]").appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _attach_session(cfg: config.EnvironmentConfig, address: tuple[str, str, str]):
    """A session of another process's driver: the job runner's (a task) or the lab cluster's (a kernel)."""
    spark = driver.attach(*address)
    spark.conf.set("spark.sql.shuffle.partitions", str(cfg.compute.shuffle_partitions))
    return spark


def _prepare(spark) -> None:
    spark.sparkContext.setLogLevel("ERROR")
    _quiet_python_loggers()
    catalog.bootstrap(spark)
    lineage.install(spark)
    # each task carries a copy of the Hadoop settings; without each setting's file name, serializing one costs a
    # tenth as much (HadoopSettings.java)
    hadoop_settings = jvm_class(spark, "io.lakehouselab.HadoopSettings")
    hadoop_settings.forgetSources(spark.sparkContext._jsc.hadoopConfiguration())


def _quiet_python_loggers() -> None:
    """PySpark logs every failed query as JSON on stderr; the exception already says it all."""
    import logging

    for name in ("SQLQueryContextLogger", "py4j"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def reset(confirm: bool = True) -> Path:
    """Delete all lab state (tables, checkpoints, landing files, catalog data) under the lab root.

    Refuses any root that is not ``<project>/.lab`` or ``$LAKEHOUSE_LAB_HOME``. Jars are kept.
    """
    root = paths.lab_root()
    allowed = {(paths.project_root() / ".lab").resolve()}
    if os.environ.get("LAKEHOUSE_LAB_HOME"):
        allowed.add(Path(os.environ["LAKEHOUSE_LAB_HOME"]).expanduser().resolve())
    if root.resolve() not in allowed or root.resolve() in {Path("/"), Path.home().resolve()}:
        raise LabError(f"Refusing to reset {root}: the lab root must be {' or '.join(map(str, allowed))}.")
    if root.is_dir() and any(root.iterdir()) and not paths.is_lab_root(root):
        raise LabError(f"Refusing to reset {root}: it holds files the lab did not make (no {paths.LAB_MARKER} "
                       "file). Point LAKEHOUSE_LAB_HOME at a folder of its own, or delete this one yourself.")
    stop()
    cluster.stop()  # its driver holds the tables about to be deleted
    if root.exists():
        shutil.rmtree(root)
    return root
