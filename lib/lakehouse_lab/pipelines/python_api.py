"""Python definitions with the names of ``pyspark.pipelines`` (``table``, ``materialized_view``,
``temporary_view``, ``append_flow``, ``create_streaming_table``) and the legacy ``dlt`` reads.

Decorators register datasets into the active :class:`Registry`: the one a pipeline source file is loaded
into, or, in a notebook, the notebook's own registry (:func:`notebook_registry`).

>>> from lakehouse_lab.pipelines import python_api as api
>>> with api.collecting() as reg:
...     @api.materialized_view(comment="one row")
...     def answer():
...         return spark.range(1)
>>> [(d.name, d.kind) for d in reg.datasets]
[('answer', 'materialized_view')]
"""
from __future__ import annotations

import ast
import contextlib
import contextvars
import inspect
import textwrap

from .model import Dataset, Flow, PipelineDefinitionError

READ_METHODS = {"read", "read_stream", "table"}


class Registry:
    """Datasets and extra flows defined by Python code, in definition order."""

    def __init__(self):
        self.datasets: list[Dataset] = []
        self.flows: list[Flow] = []

    def clear(self):
        self.datasets.clear()
        self.flows.clear()


_active: contextvars.ContextVar[Registry | None] = contextvars.ContextVar("lakehouse_lab_dp_registry", default=None)
_notebook = Registry()


def notebook_registry() -> Registry:
    """Datasets defined in notebook cells (outside any pipeline file being loaded)."""
    return _notebook


@contextlib.contextmanager
def collecting(registry: Registry | None = None):
    """Collect the definitions made inside the block into ``registry`` (a new one by default)."""
    registry = registry or Registry()
    token = _active.set(registry)
    try:
        yield registry
    finally:
        _active.reset(token)


def _registry() -> Registry:
    return _active.get() or _notebook


def _where(fn) -> tuple[str, int]:
    try:
        return inspect.getsourcefile(fn) or "<cell>", inspect.getsourcelines(fn)[1]
    except (OSError, TypeError):
        return "<cell>", 1


def reads_of(fn) -> list[tuple[str, bool]]:
    """Names a query function reads with a literal: ``dlt.read("x")``, ``dlt.read_stream("x")``,
    ``spark.read.table("x")``, ``spark.readStream.table("x")``, ``spark.table("x")`` → ``[(x, streaming)]``."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return []
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in READ_METHODS and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            continue
        owner = ast.unparse(node.func.value)
        streaming = node.func.attr == "read_stream" or owner.endswith("readStream")
        if node.func.attr == "table" and not (owner.endswith(("read", "readStream")) or owner == "spark"):
            continue
        found.append((node.args[0].value, streaming))
    return found


def _define(kind, query_function, name, comment, table_properties, partition_cols, **_ignored):
    def register(fn):
        if not callable(fn):
            raise TypeError(f"@{kind or 'table'} decorates a function returning a DataFrame, not {fn!r}")
        file, line = _where(fn)
        ds = Dataset(name or fn.__name__, kind, function=fn, comment=comment or inspect.getdoc(fn),
                     table_properties=dict(table_properties or {}), partition_cols=partition_cols,
                     expectations=list(getattr(fn, "__dp_expectations__", [])), file=file, line=line)
        ds.flows[0].reads = reads_of(fn)
        _registry().datasets.append(ds)
        fn.__dp_dataset__ = ds
        return fn
    return register(query_function) if query_function is not None else register


def table(query_function=None, *, name=None, comment=None, spark_conf=None, table_properties=None,
          partition_cols=None, cluster_by=None, schema=None, format=None):
    """A table: a streaming table when the query returns a streaming DataFrame, else a materialized view."""
    return _define(None, query_function, name, comment, table_properties, partition_cols or cluster_by)


def materialized_view(query_function=None, *, name=None, comment=None, spark_conf=None, table_properties=None,
                      partition_cols=None, cluster_by=None, schema=None, format=None):
    """A materialized view: recomputed from its query on every update."""
    return _define("materialized_view", query_function, name, comment, table_properties,
                   partition_cols or cluster_by)


def temporary_view(query_function=None, *, name=None, comment=None, spark_conf=None):
    """A view visible inside the pipeline only: not stored."""
    return _define("view", query_function, name, comment, None, None)


def append_flow(*, target: str, name: str | None = None, spark_conf=None, comment=None, once=False):
    """An extra streaming flow appending into the streaming table ``target`` (own checkpoint)."""
    def register(fn):
        file, line = _where(fn)
        flow = Flow(name or fn.__name__, target, function=fn, reads=reads_of(fn), file=file, line=line)
        _registry().flows.append(flow)
        return fn
    return register


def create_streaming_table(name: str, *, comment=None, table_properties=None, partition_cols=None,
                           cluster_by=None, schema=None, format=None, expect_all=None, expect_all_or_drop=None,
                           expect_all_or_fail=None) -> None:
    """Declare a streaming table that ``@append_flow`` functions write into."""
    from ..expectations import Expectation

    rules = []
    for action, given in (("warn", expect_all), ("drop", expect_all_or_drop), ("fail", expect_all_or_fail)):
        rules += [Expectation(k, v, action) for k, v in (given or {}).items()]
    frame = inspect.stack()[1]
    _registry().datasets.append(Dataset(name, "streaming_table", comment=comment, expectations=rules,
                                        table_properties=dict(table_properties or {}),
                                        partition_cols=partition_cols or cluster_by,
                                        file=frame.filename, line=frame.lineno))


def load_python(path) -> Registry:
    """Run a pipeline ``.py`` file and collect what it defines (``spark`` is available as a global)."""
    import runpy

    import lakehouse_lab as lab

    with collecting() as registry:
        try:
            runpy.run_path(str(path), init_globals={"spark": lab.start()}, run_name="__pipeline__")
        except SyntaxError as exc:
            raise PipelineDefinitionError(f"{path}:{exc.lineno}: {exc.msg}\n    {(exc.text or '').strip()}") from None
    return registry


# Reads inside a running update: the runner installs a resolver for pipeline dataset names.
_resolver: contextvars.ContextVar = contextvars.ContextVar("lakehouse_lab_dp_resolver", default=None)


def read(name: str):
    """The batch DataFrame of pipeline dataset ``name`` (``LIVE.`` prefix allowed), or of an outside table."""
    return _read(name, streaming=False)


def read_stream(name: str):
    """The streaming DataFrame of ``name``: only rows not yet processed by this flow."""
    return _read(name, streaming=True)


def _read(name: str, streaming: bool):
    from pyspark.sql import SparkSession

    resolver = _resolver.get()
    if name.upper().startswith("LIVE."):
        name = name[5:]
    target = resolver(name) if resolver else name
    spark = SparkSession.active()  # not lab.start(): that would reset the update's current schema
    if resolver and target == name and not spark.catalog.tableExists(name):  # not a dataset, nor a table
        call = "read_stream" if streaming else "read"
        raise PipelineDefinitionError(f"{call}({name!r}): this pipeline defines no dataset {name!r}, and no table "
                                      "of that name exists")
    return spark.readStream.table(target) if streaming else spark.read.table(target)
