"""Three-level names (``catalog.schema.table``) the Unity Catalog way, on the lab's shared metastore.

Each environment's catalog (``dev_catalog``, ``staging_catalog``, ``prod_catalog``) and the ``system``
catalog are Spark catalogs served by ``io.lakehouselab.LabCatalog`` (``java/LabCatalog.java``, compiled at
set-up): schemas live in the shared Hive metastore as ``<catalog>__<schema>`` databases, tables are Delta
tables. Plain ``spark.sql("SELECT * FROM dev_catalog.analytics.silver_orders")`` works in every kernel.

>>> import lakehouse_lab as lab
>>> lab.table("silver_orders", env="prod")
'prod_catalog.analytics.silver_orders'
"""
from __future__ import annotations

import difflib
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import config, paths

PLUGIN_CLASS = "io.lakehouselab.LabCatalog"
SYSTEM_CATALOG = "system"
SYSTEM_SCHEMAS = ("access", "lakeflow", "compute")
JAVA_DIR = Path(__file__).parent / "java"


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


def _current_env() -> str:
    from . import session

    return session.current_env()


def plugin_jar() -> Path:
    """The lab's JVM plugins (``java/*.java``: the catalog, and any listener), compiled with ``javac`` into
    ``<lab root>/plugins`` when a source changed."""
    sources = sorted(JAVA_DIR.glob("*.java"))
    digest = hashlib.sha256(b"".join(s.read_bytes() for s in sources)).hexdigest()[:12]
    jar = paths.under(paths.lab_root(), "plugins") / f"lakehouse-lab-plugins-{digest}.jar"
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


def bootstrap(spark) -> None:
    """Create the catalogs' schemas (idempotent, cheap when they exist)."""
    existing = {row[0] for row in spark.sql("SHOW NAMESPACES IN spark_catalog").collect()}
    for catalog_name, schemas in catalogs().items():
        for schema in schemas:
            if f"{catalog_name}__{schema}".lower() not in existing:
                spark.sql(f"CREATE SCHEMA IF NOT EXISTS `{catalog_name}`.`{schema}`")


def list_schemas(spark, catalog_name: str) -> list[str]:
    """Schema names in a lab catalog (empty for an unknown catalog)."""
    if catalog_name not in catalogs():
        return []
    return sorted(r[0] for r in spark.sql(f"SHOW SCHEMAS IN `{catalog_name}`").collect())


def list_tables(spark, catalog_name: str, schema: str) -> list[str]:
    """Table names in ``catalog.schema`` (empty when the schema does not exist)."""
    if catalog_name not in catalogs():
        return []
    try:
        rows = spark.sql(f"SHOW TABLES IN `{catalog_name}`.`{schema}`").collect()
    except Exception:  # noqa: BLE001 - an unknown schema lists nothing
        return []
    return sorted(r.tableName for r in rows)


def missing_tables(spark, full_names: list[str]) -> list[str]:
    """The names among ``full_names`` (``catalog.schema.table``) that do not exist yet.

    Found by listing each schema once: unlike ``spark.catalog.tableExists`` this opens no Delta log, which is
    what a start or an update pays when it only checks that its tables are there."""
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
