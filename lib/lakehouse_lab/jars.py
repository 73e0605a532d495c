"""The JVM jars the lab needs beyond pyspark's own: Delta Lake.

Resolved once (``make setup`` calls :func:`ensure`) with Spark's own Ivy resolver against Maven Central,
into :func:`lakehouse_lab.paths.jar_cache`; every later start puts the cached files on the driver's class path
and needs no network. If Ivy cannot reach Maven Central, Maven (``mvn dependency:copy``) resolves the same
coordinates into the same cache.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import paths

DELTA = "io.delta:delta-spark_4.1_2.13:4.4.0"
COORDINATES = [DELTA]
MANIFEST = "manifest.json"


class JarsMissing(RuntimeError):
    """The jar cache is empty or stale; ``make setup`` (or ``lakehouse-lab doctor``) fixes it."""


def cached(cache: Path | None = None) -> list[Path]:
    """The cached jars when the cache holds exactly :data:`COORDINATES`, else raise :class:`JarsMissing`."""
    cache = cache or paths.jar_cache()
    manifest = cache / MANIFEST
    if not manifest.exists() or json.loads(manifest.read_text()).get("coordinates") != COORDINATES:
        raise JarsMissing(
            f"The Delta jars are not in {cache}. Run `make setup` once "
            "with access to Maven Central."
        )
    return sorted(cache.glob("*.jar"))


def for_session(cache: Path | None = None) -> list[Path]:
    """The cached jars a Spark session needs: those whose artifact pyspark does not already ship.

    Resolving Delta also brings Hadoop, Parquet, Jackson, log4j … that pyspark's own ``jars/`` folder holds
    (about 80 MB). Spark loads those classes from its own copies anyway; putting the duplicates on the class
    path too only cost each start about 1.5 s (measured when they were ``spark.jars``).

    >>> sorted(p.name for p in for_session())[:1]   # doctest: +SKIP
    ['com.fasterxml.jackson.datatype_jackson-datatype-jdk8-2.13.5.jar']
    """
    from pyspark.find_spark_home import _find_spark_home

    shipped = {_artifact(j.name) for j in (Path(_find_spark_home()) / "jars").glob("*.jar")}
    maven_named = route(cache) == "maven"  # <artifact>-<version>.jar; Ivy's are <group>_<artifact>-<version>.jar
    return [j for j in cached(cache) if _artifact(j.name if maven_named else j.name.partition("_")[2]) not in shipped]


def _artifact(file_name: str) -> str:
    """``hadoop-client-api-3.4.2.jar`` -> ``hadoop-client-api`` (the version starts at the last ``-<digit>``)."""
    return re.sub(r"-\d[^-]*\.jar$", "", file_name)


def ensure(cache: Path | None = None, verbose: bool = True) -> list[Path]:
    """Return the cached jars, resolving them first if needed (Ivy, then Maven as fallback)."""
    cache = cache or paths.jar_cache()
    try:
        return cached(cache)
    except JarsMissing:
        pass
    with tempfile.TemporaryDirectory(prefix="lab-jars-") as tmp:
        staging = Path(tmp) / "jars"
        route = "ivy"
        try:
            _resolve_with_ivy(Path(tmp), staging)
        except Exception as ivy_error:  # noqa: BLE001 - any Ivy failure falls back to Maven
            if verbose:
                print(f"Ivy could not resolve the jars ({ivy_error}); trying Maven.")
            route = "maven"
            _resolve_with_maven(staging)
        cache.mkdir(parents=True, exist_ok=True)
        for old in cache.glob("*.jar"):
            old.unlink()
        for jar in staging.glob("*.jar"):
            shutil.copy2(jar, cache / jar.name)
    (cache / MANIFEST).write_text(json.dumps({"coordinates": COORDINATES, "route": route}, indent=2))
    if verbose:
        print(f"Resolved {len(list(cache.glob('*.jar')))} jars with {route} into {cache}")
    return cached(cache)


def route(cache: Path | None = None) -> str | None:
    """Which resolver filled the cache (``"ivy"`` or ``"maven"``), or None when it is empty."""
    manifest = (cache or paths.jar_cache()) / MANIFEST
    return json.loads(manifest.read_text()).get("route") if manifest.exists() else None


def _resolve_with_ivy(workdir: Path, staging: Path) -> None:
    """Let Spark's own Ivy resolution (``spark.jars.packages``) fetch the jars, in a throwaway process."""
    ivy_home = workdir / "ivy"
    settings = workdir / "ivysettings.xml"
    # Only Maven Central: Spark's default settings also read ~/.m2, where a pom without its jar breaks Ivy.
    settings.write_text(
        '<ivysettings><settings defaultResolver="central"/><resolvers>'
        '<ibiblio name="central" m2compatible="true" root="https://repo1.maven.org/maven2/"/>'
        '</resolvers></ivysettings>'
    )
    script = (
        "from pyspark.sql import SparkSession\n"
        "SparkSession.builder.master('local[1]').appName('lakehouse-lab-resolve-jars')"
        f".config('spark.jars.packages', {','.join(COORDINATES)!r}).config('spark.jars.ivy', {str(ivy_home)!r})"
        f".config('spark.jars.ivySettings', {str(settings)!r})"
        ".config('spark.ui.enabled', 'false').getOrCreate().stop()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=900)
    found = list((ivy_home / "jars").glob("*.jar"))
    if done.returncode != 0 or not any("delta-spark" in j.name for j in found):
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no Delta jar")
    staging.mkdir(parents=True, exist_ok=True)
    for jar in found:
        shutil.copy2(jar, staging / jar.name)


def _resolve_with_maven(staging: Path) -> None:
    """Same coordinates through Maven: a throwaway pom, then ``dependency:copy-dependencies``."""
    deps = "".join(
        "<dependency><groupId>{}</groupId><artifactId>{}</artifactId><version>{}</version></dependency>".format(
            *c.split(":"))
        for c in COORDINATES
    )
    pom = staging.parent / "pom.xml"
    pom.write_text(
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>lakehouse-lab</groupId><artifactId>jars</artifactId><version>1</version>"
        f"<dependencies>{deps}</dependencies></project>"
    )
    subprocess.run(
        ["mvn", "-q", "-f", str(pom), "dependency:copy-dependencies", "-DincludeScope=runtime",
         f"-DoutputDirectory={staging}"],
        check=True,
    )

