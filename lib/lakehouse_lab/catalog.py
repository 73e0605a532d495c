"""Three-level names (``catalog.schema.table``) the Unity Catalog way, shared by every kernel.

Each environment's catalog (``dev_catalog``, ``staging_catalog``, ``prod_catalog``) and the ``system``
catalog are Spark catalogs served by ``io.lakehouselab.LabCatalog`` (``java/LabCatalog.java``, compiled at
set-up). The catalog is the warehouse folder: schema ``dev_catalog.analytics`` is the folder
``warehouse/dev_catalog__analytics.db``, each table a Delta table in a sub-folder (``java/SharedTables.java``),
so every kernel sees the same tables with no metastore or server. Plain
``spark.sql("SELECT * FROM dev_catalog.analytics.silver_orders")`` works in every kernel.

>>> import lakehouse_lab as lab
>>> lab.table("silver_orders", env="prod")
'prod_catalog.analytics.silver_orders'
"""
from __future__ import annotations

import difflib
import glob
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

from . import config, paths

PLUGIN_CLASS = "io.lakehouselab.LabCatalog"
SYSTEM_CATALOG = "system"
SYSTEM_SCHEMAS = ("access", "lakeflow", "compute")
WRITABLE_CATALOGS_CONF = "spark.lakehouse_lab.writable_catalogs"  # set per session; read by LabCatalog.java
JAVA_DIR = Path(__file__).parent / "java"
# The lab's bookkeeping tables (system.*, event logs) take many small appends and are read whole. Delta's
# per-file column statistics make each such append about 0.27 s slower (0.93 s vs 0.66 s for 5 rows of 20
# columns, measured side by side) and skip no file worth skipping, so these tables do not collect them.
# Every commit adds two files to the table's log folder, and Delta lists the whole folder each time it looks for
# new commits, several times per append: with 1,413 files (two tables after many pipeline updates) a look took
# 44 ms, with 95 files 6.5 ms. So their log keeps a day of commits, not Delta's 30 days (expired files go at each
# checkpoint, every 100 commits, by whole days); Delta wants removed data files kept at least as long. Their
# history is the lab's record, not something to travel back in.
BOOKKEEPING_LOG_SETTINGS = {"delta.logRetentionDuration": "interval 1 days",
                            "delta.deletedFileRetentionDuration": "interval 1 days"}


def properties_sql(settings: dict[str, str]) -> str:
    """Table properties as the list ``TBLPROPERTIES (…)`` and ``SET TBLPROPERTIES (…)`` take (constants only).

    >>> properties_sql({"delta.appendOnly": "true"})
    "'delta.appendOnly' = 'true'"
    """
    return ", ".join(f"'{k}' = '{v}'" for k, v in settings.items())


BOOKKEEPING_PROPERTIES = "TBLPROPERTIES ({})".format(
    properties_sql({"delta.dataSkippingNumIndexedCols": "0", **BOOKKEEPING_LOG_SETTINGS}))


def catalogs() -> dict[str, list[str]]:
    """Every lab catalog with the schemas it starts with: one per environment config, plus ``system``."""
    found: dict[str, list[str]] = {}
    for env in config.environments():
        cfg = config.load_config(env)
        schemas = {cfg.database.schema_name, cfg.storage.root_table.split(".")[0], "default"}
        found.setdefault(cfg.database.catalog, [])
        found[cfg.database.catalog] = sorted(set(found[cfg.database.catalog]) | schemas)
    found[SYSTEM_CATALOG] = sorted({*SYSTEM_SCHEMAS, "default"})
    return found


def table(name: str, env: str | None = None, schema: str | None = None) -> str:
    """The fully qualified name of ``name`` in an environment (default: the running session's).

    ``name`` may be ``table``, ``schema.table`` or already ``catalog.schema.table`` (returned as is).
    """
    parts = name.split(".")
    if len(parts) == 3:
        return name
    cfg = config.load_config(env or _current_env())
    if len(parts) == 2:
        return f"{cfg.database.catalog}.{name}"
    return f"{cfg.database.catalog}.{schema or cfg.database.schema_name}.{name}"


def quote(name: str) -> str:
    """``catalog.schema.table`` with every part backtick-quoted (backticks inside doubled), for SQL text.

    >>> quote("dev_catalog.analytics.silver_orders")
    '`dev_catalog`.`analytics`.`silver_orders`'
    """
    return ".".join(f"`{part.replace('`', '``')}`" for part in name.split("."))


def use(spark, catalog_name: str, schema: str) -> None:
    """Make ``catalog_name.schema`` the session's current schema, unless it already is: ``USE`` is a command
    Spark parses, analyses and runs (about 13 ms, against 1 ms to ask), and a pipeline update needs it per flow.

    >>> use(spark, "dev_catalog", "analytics")   # doctest: +SKIP
    """
    if spark.catalog.currentCatalog() != catalog_name or spark.catalog.currentDatabase() != schema:
        spark.sql(f"USE {quote(catalog_name)}.{quote(schema)}")


def _current_env() -> str:
    from . import session

    return session.current_env()


def plugin_jar() -> Path:
    """The lab's JVM plugins (``java/*.java``: the catalog, the lineage listener, the local file system),
    compiled with ``javac`` when a source changed, into the jar cache: every lab root's sessions then have the
    same class path, which the JVM class archive (``class_archive``) requires."""
    sources = sorted(JAVA_DIR.glob("*.java"))
    digest = hashlib.sha256(b"".join(s.read_bytes() for s in sources)).hexdigest()[:12]
    jar = paths.under(paths.jar_cache(), "plugins") / f"lakehouse-lab-plugins-{digest}.jar"
    if jar.exists():
        return jar
    javac, jar_tool = shutil.which("javac"), shutil.which("jar")
    if not javac or not jar_tool:
        raise RuntimeError("Building the lab's catalog plugin needs a JDK (javac): "
                           "`sudo apt-get install openjdk-17-jdk-headless` (conda: `openjdk=17`).")
    from pyspark.find_spark_home import _find_spark_home

    classpath = os.pathsep.join([str(Path(_find_spark_home()) / "jars" / "*"), str(paths.jar_cache() / "*")])
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([javac, "-nowarn", "-d", out, "-cp", classpath, *map(str, sources)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"javac failed on {JAVA_DIR}:\n{done.stderr}")
        tmp_jar = jar.with_suffix(".tmp")
        subprocess.run([jar_tool, "cf", str(tmp_jar), "-C", out, "."], check=True)
        tmp_jar.replace(jar)
    for old in jar.parent.glob("lakehouse-lab-plugins-*.jar"):
        if old != jar:
            old.unlink()
    return jar


def spark_conf() -> dict[str, str]:
    """Spark settings that register every lab catalog."""
    return {f"spark.sql.catalog.{name}": PLUGIN_CLASS for name in catalogs()}


def schema_folder(catalog_name: str, schema: str) -> Path:
    """Where ``catalog.schema`` keeps its tables: ``<lab root>/warehouse/<catalog>__<schema>.db``.

    >>> schema_folder("dev_catalog", "analytics").name
    'dev_catalog__analytics.db'
    """
    return paths.lab_root() / "warehouse" / f"{catalog_name}__{schema}.db".lower()


def bootstrap(spark) -> None:
    """Load every lab catalog and create its schemas (idempotent; a schema whose folder exists costs nothing).

    Loading them now matters: a thread with no active session (a job task, a parallel write) resolves
    ``system.lakeflow.x`` as a catalog name only when that catalog was loaded; otherwise it reads ``system`` as a
    schema of the current catalog. Each is bound to ``spark``: on a shared driver (:mod:`lakehouse_lab.driver`)
    such a thread would otherwise check writes against the driver's default session and its environment."""
    manager = spark._jsparkSession.sessionState().catalogManager()
    for catalog_name, schemas in catalogs().items():
        manager.catalog(catalog_name).bind(spark._jsparkSession)
        for schema in schemas:
            if not schema_folder(catalog_name, schema).is_dir():
                spark.sql(f"CREATE SCHEMA IF NOT EXISTS `{catalog_name}`.`{schema}`")


def _is_delta_table(folder: Path) -> bool:
    """A folder holds a Delta table once its log has a commit or checkpoint (as ``SharedTables.isDeltaTable``)."""
    log = folder / "_delta_log"
    return log.is_dir() and any(n[:1].isdigit() and (n.endswith(".json") or ".checkpoint" in n)
                                for n in os.listdir(log))


def _folder_tables(folder: Path) -> list[str]:
    """The tables of a schema folder: managed sub-folders and the external tables listed in ``_external/``."""
    managed = [child.name for child in folder.iterdir() if child.is_dir() and _is_delta_table(child)]
    externals = folder / "_external"
    external = [f.name for f in externals.iterdir() if not f.name.startswith(".")
                and _is_delta_table(Path(unquote(urlparse(f.read_text().strip()).path)))] if externals.is_dir() else []
    return sorted(managed + external)


def list_schemas(spark, catalog_name: str) -> list[str]:
    """Schema names in a lab catalog (empty for an unknown catalog). ``spark`` is unused: the folders say it."""
    if catalog_name not in catalogs():
        return []
    prefix = f"{catalog_name}__".lower()
    warehouse = paths.lab_root() / "warehouse"
    found = warehouse.glob(f"{glob.escape(prefix)}*.db") if warehouse.is_dir() else []
    return sorted(f.name[len(prefix):-3] for f in found if f.is_dir())


def list_tables(spark, catalog_name: str, schema: str) -> list[str]:
    """Table names in ``catalog.schema`` (empty when the schema does not exist), read from its folder."""
    folder = schema_folder(catalog_name, schema)
    if catalog_name not in catalogs() or not folder.is_dir():
        return []
    return _folder_tables(folder)


def on_disk() -> dict[str, dict[str, list[str]]]:
    """Every lab catalog's schemas and their tables, as the warehouse folders hold them (no Spark needed).

    >>> sorted(on_disk())[:1]
    ['dev_catalog']
    """
    return {name: {schema: list_tables(None, name, schema) for schema in list_schemas(None, name)}
            for name in catalogs()}


def create_bookkeeping_table(spark, name: str, columns: str) -> None:
    """``CREATE TABLE IF NOT EXISTS name (columns)``: a Delta table of the lab's own records, without statistics.

    >>> create_bookkeeping_table(spark, "system.lakeflow.example", "id BIGINT, note STRING")   # doctest: +SKIP
    """
    spark.sql(f"CREATE TABLE IF NOT EXISTS {quote(name)} ({columns}) USING delta {BOOKKEEPING_PROPERTIES}")


_CREATING = threading.Lock()


def ensure_bookkeeping_tables(spark, tables: dict[str, str]) -> None:
    """Create those of ``tables`` (full name -> columns) that are missing; checking costs a folder listing,
    so it can run before every write or query (after ``lab.reset()`` the tables come back). Serialised within
    the process: two concurrent Delta creates of one table (two pipeline tasks of a job starting together)
    leave a half-written location behind.

    >>> ensure_bookkeeping_tables(spark, {"system.lakeflow.example": "id BIGINT"})   # doctest: +SKIP
    """
    with _CREATING:
        for name in missing_tables(spark, list(tables)):
            try:
                create_bookkeeping_table(spark, name, tables[name])
            except Exception:  # noqa: BLE001 - another process created it at the same moment
                if not spark.catalog.tableExists(name):
                    raise


def missing_tables(spark, full_names: list[str]) -> list[str]:
    """The names among ``full_names`` (``catalog.schema.table``) that do not exist yet.

    Found by listing each schema's folder once: unlike ``spark.catalog.tableExists`` this opens no Delta log,
    which is what a start or an update pays when it only checks that its tables are there."""
    listed: dict[str, set[str]] = {}
    missing = []
    for full_name in full_names:
        schema, name = full_name.rsplit(".", 1)
        if schema not in listed:
            listed[schema] = {t.lower() for t in list_tables(spark, *schema.split("."))}
        if name.lower() not in listed[schema]:
            missing.append(full_name)
    return missing


def explain_missing(spark, full_name: str) -> str:
    """A message for a name that does not resolve: which part is unknown, what exists, near names."""
    parts = full_name.split(".")
    if len(parts) != 3:
        return f"{full_name!r} is not a three-level name (catalog.schema.table)."
    cat, schema, name = parts
    known = catalogs()
    if cat not in known:
        return f"Catalog {cat!r} does not exist. Catalogs: {', '.join(sorted(known))}."
    schemas = list_schemas(spark, cat)
    if schema not in schemas:
        return f"Schema {cat}.{schema} does not exist. Schemas in {cat}: {', '.join(schemas)}."
    tables = list_tables(spark, cat, schema)
    near = difflib.get_close_matches(name, tables, n=3)
    hint = f" Did you mean {', '.join(f'{cat}.{schema}.{n}' for n in near)}?" if near else ""
    return (f"Table {full_name} does not exist. Tables in {cat}.{schema}: {', '.join(tables) or 'none'}.{hint}")


def explain_not_found(spark, exc: Exception, catalog_name: str, schema: str) -> str:
    """For Spark's ``TABLE_OR_VIEW_NOT_FOUND``: :func:`explain_missing` of the name it reports (read in
    ``catalog_name.schema`` when not fully qualified); ``""`` for any other error."""
    if getattr(exc, "getCondition", lambda: None)() != "TABLE_OR_VIEW_NOT_FOUND":
        return ""
    parts = (exc.getMessageParameters() or {}).get("relationName", "").replace("`", "").split(".")
    full_name = ".".join([catalog_name, schema][: max(3 - len(parts), 0)] + parts)
    return explain_missing(spark, full_name) + _course_source_hint(full_name)


def _course_source_hint(full_name: str) -> str:
    """How one of the course's bronze sources comes to exist, when ``full_name`` is one (in an environment's
    catalog)."""
    from .datagen import SCHEMAS

    catalog_name, _, name = full_name.partition(".")
    envs = [env for env in config.environments() if config.load_config(env).database.catalog == catalog_name]
    if not envs or name not in {f"bronze.raw_{source}" for source in SCHEMAS}:
        return ""
    return (f" It is one of the course's sources: `lakehouse-lab run --env {envs[0]}` lands and ingests them (then "
            "runs the course pipeline), as do notebooks 00 and 02 (`datagen.ingest`).")
