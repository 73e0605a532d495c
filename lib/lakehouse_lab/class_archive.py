"""A class-data-sharing archive for the lab's JVM, so a session starts without re-loading Spark's classes.

Every notebook kernel, job task and CLI call starts a JVM that loads the same ~15,000 classes of Spark
and Delta. Java 17 can record the classes a run loaded into an archive (``-XX:ArchiveClassesAtExit``)
and map that archive at the next start (``-XX:SharedArchiveFile``), which skips most of the class loading.
``make setup`` records the archive once, after a short session that starts the lab and writes a Delta
table; :func:`java_options` adds it to every later start. The file name carries the Java and Spark versions,
so a new JDK or pyspark records a fresh one. Next to it, ``.classpath.json`` notes the jars it was recorded
with (path, size, time): after a plugin or jar change the archive is left out until ``make setup`` records it
again — the JVM would refuse it anyway, with a warning on every start.

>>> from lakehouse_lab import class_archive
>>> class_archive.archive_path().suffix
'.jsa'
"""
from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from . import paths

RECORD_ENV = "LAKEHOUSE_LAB_RECORD_CLASSES"  # set by :func:`record`: the session dumps its classes at exit
DISABLE_ENV = "LAKEHOUSE_LAB_NO_CLASS_ARCHIVE"
EXTRA_ENV = "LAKEHOUSE_LAB_JAVA_OPTIONS"  # more driver JVM options, e.g. -Xlog:class+load to see the archive used

WARM_UP = """
import lakehouse_lab as lab
from pyspark import SparkContext
spark = lab.start()
spark.sql("CREATE TABLE warm_up AS SELECT id, id % 7 AS k FROM range(1000)")
spark.sql("MERGE INTO warm_up t USING (SELECT 1 AS id, 0 AS k) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET *")
spark.sql("SELECT k, count(*) FROM warm_up GROUP BY k").collect()
spark.sql("DESCRIBE HISTORY warm_up").collect()
jvm = SparkContext._gateway.proc
lab.stop()
jvm.stdin.close()   # the JVM exits when its stdin closes; the archive is written as it exits
jvm.wait(timeout=300)
"""


@functools.lru_cache(maxsize=1)
def _java_version() -> str:
    java = os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else "java"
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    found = re.search(r'version "([^"]+)"', out)
    return found.group(1) if found else "unknown"


def archive_path() -> Path:
    """Where the archive for this Java and pyspark lives (next to the cached jars)."""
    import pyspark

    return paths.jar_cache() / f"classes-java{_java_version()}-spark{pyspark.__version__}.jsa"


def session_class_path() -> list[Path]:
    """The driver's class path: the cached jars pyspark lacks, then the lab's plugin jar."""
    from . import catalog, jars

    return [*jars.for_session(), catalog.plugin_jar()]


def _stamp(class_path: list[Path]) -> list:
    return [[str(p), p.stat().st_size, p.stat().st_mtime_ns] if p.exists() else [str(p)] for p in class_path]


def stamp_path() -> Path:
    archive = archive_path()
    return archive.with_name(archive.stem + ".classpath.json")


def matches(class_path: list[Path]) -> bool:
    """Whether the archive was recorded with these jars (an archive recorded before stamps were kept: yes)."""
    try:
        return json.loads(stamp_path().read_text()) == _stamp(class_path)
    except FileNotFoundError:
        return True
    except ValueError:
        return False


def java_options(class_path: list[Path]) -> list[str]:
    """The JVM options of a lab session on ``class_path``: record the archive (during :func:`record`) or use it
    when present and recorded with that class path."""
    extra = os.environ.get(EXTRA_ENV, "").split()
    if os.environ.get(DISABLE_ENV):
        return extra
    archive = archive_path()
    if os.environ.get(RECORD_ENV):
        return [f"-XX:ArchiveClassesAtExit={archive}", *extra]
    usable = archive.exists() and matches(class_path)
    return [f"-XX:SharedArchiveFile={archive}", *extra] if usable else extra


def record(quiet: bool = False) -> Path | None:
    """Record the archive with a warm-up session in a throw-away lab root; return its path (``None`` if the
    JVM could not write one, in which case sessions simply start without it)."""
    archive = archive_path()
    archive.unlink(missing_ok=True)
    stamp_path().unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="lab-classes-") as root:
        env = {**os.environ, RECORD_ENV: "1", "LAKEHOUSE_LAB_HOME": root, "CI": "1"}
        done = subprocess.run([sys.executable, "-c", WARM_UP], env=env, capture_output=True, text=True,
                              timeout=900)
    if done.returncode != 0 or not archive.exists():
        if not quiet:
            print(f"No class archive recorded (sessions start without it): {done.stderr[-1500:]}")
        return None
    stamp_path().write_text(json.dumps(_stamp(session_class_path())))
    if not quiet:
        print(f"Class archive recorded: {archive} ({archive.stat().st_size // 2**20} MiB)")
    return archive
