"""Declarative pipelines: Delta Live Tables SQL and Python definitions, run locally on Spark + Delta.

>>> from lakehouse_lab.pipelines import run_pipeline, Pipeline
>>> update = run_pipeline("notebooks/pipelines/orders", env="dev")     # doctest: +SKIP
>>> update.state                                                       # doctest: +SKIP
'COMPLETED'
"""
from __future__ import annotations

from .graph import Pipeline
from .model import Dataset, Flow, PipelineDefinitionError
from .runner import PipelineUpdate, PipelineUpdateFailed, run_pipeline


def event_log(pipeline_name: str, env: str | None = None, schema: str | None = None):
    """The pipeline's event log (Databricks ``event_log()`` shape) as a DataFrame, newest first.

    It lives in the schema the pipeline publishes to: the environment's (default), ``schema``, or the one
    of the pipeline's latest update in ``system.lakeflow.pipeline_updates``."""
    import lakehouse_lab as lab

    from .event_log import latest_schema, read_event_log

    spark = lab.start()
    cfg = lab.load_config(env) if env else lab.current_config()
    catalog = cfg.database.catalog
    schema = schema or latest_schema(spark, pipeline_name, catalog) or cfg.database.schema_name
    return read_event_log(spark, pipeline_name, catalog, schema)


def graph(source, name: str | None = None):
    """The dataflow graph of a pipeline source, before running it (a ``graphviz.Digraph``)."""
    import lakehouse_lab as lab

    from .display import pipeline_graph

    spark = lab.start()
    cfg = lab.current_config()
    pipeline = source if isinstance(source, Pipeline) else Pipeline.load(source, name=name)
    pipeline.analyse(spark, cfg.database.catalog, cfg.database.schema_name)
    edges = pipeline.edges(cfg.database.catalog, cfg.database.schema_name)
    pipeline.order(cfg.database.catalog, cfg.database.schema_name)
    return pipeline_graph(pipeline, edges, {})


__all__ = ["run_pipeline", "PipelineUpdate", "PipelineUpdateFailed", "Pipeline", "Dataset", "Flow",
           "PipelineDefinitionError", "event_log", "graph"]
