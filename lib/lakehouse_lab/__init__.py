"""Lakehouse Lab: Databricks dataflow patterns on a local Apache Spark + Delta Lake lakehouse.

>>> import lakehouse_lab as lab
>>> spark = lab.start()                                   # doctest: +SKIP
>>> lab.table("silver_orders")                            # doctest: +SKIP
'dev_catalog.analytics.silver_orders'
"""
from . import dbutils, jobs, lineage
from .catalog import table
from .config import load_config
from .environments import environment_widget, load_bundle, load_environment_config, promotion
from .pipelines import event_log, run_pipeline
from .session import current_config, current_env, reset, start, stop

__all__ = ["start", "stop", "reset", "table", "load_config", "current_env", "current_config",
           "run_pipeline", "event_log", "jobs", "dbutils", "lineage",
           "load_environment_config", "environment_widget", "load_bundle", "promotion"]
__version__ = "0.1.0"
