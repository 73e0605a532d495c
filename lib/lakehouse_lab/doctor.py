"""Checks that the machine can run the lab, each with the fix when it cannot.

>>> from lakehouse_lab.doctor import checks
>>> sorted(c.name for c in checks())[:2]
['Delta jars', 'JVM class archive (faster starts)']
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

from . import catalog, class_archive, jars, paths


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _java() -> Check:
    java = shutil.which("java")
    if not java:
        return Check("Java 17+", False, "java not found",
                     "sudo apt-get install openjdk-17-jdk-headless   (conda: conda install openjdk=17)")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', out)
    major = int(match.group(1)) if match else 0
    ok = major in (17, 21)
    return Check("Java 17+", ok, f"{java} (Java {major})",
                 "" if ok else "Spark 4.1 needs Java 17 or 21: sudo apt-get install openjdk-17-jdk-headless")


def _javac() -> Check:
    javac = shutil.which("javac")
    return Check("javac (builds the catalog plugin once)", bool(javac), javac or "not found",
                 "" if javac else "sudo apt-get install openjdk-17-jdk-headless")


def _dot() -> Check:
    dot = shutil.which("dot")
    if not dot:
        return Check("graphviz dot", False, "not found", "sudo apt-get install graphviz   (conda: conda install graphviz)")
    version = subprocess.run([dot, "-V"], capture_output=True, text=True).stderr.strip()
    return Check("graphviz dot", True, version)


def _python_packages() -> Check:
    import delta
    import pyspark
    from importlib.metadata import version

    detail = f"Python {sys.version.split()[0]}, pyspark {pyspark.__version__}, delta-spark {version('delta-spark')}"
    ok = pyspark.__version__.startswith("4.1")
    return Check("Python packages", ok, detail, "" if ok else "make setup (reinstalls the pinned versions)")


def _jars() -> Check:
    try:
        found = jars.cached()
    except jars.JarsMissing as exc:
        return Check("Delta jars", False, str(exc), "make setup")
    delta = next((j.name for j in found if "delta-spark" in j.name), "?")
    return Check("Delta jars", True, f"{len(found)} jars cached ({delta}; resolved with {jars.route()})")


def _catalog() -> Check:
    tree = catalog.on_disk()
    schemas = sum(len(s) for s in tree.values())
    tables = sum(len(t) for s in tree.values() for t in s.values())
    detail = (f"{len(tree)} catalogs, {schemas} schemas, {tables} tables in {paths.lab_root() / 'warehouse'}"
              if schemas else "no schemas yet (lab.start() creates them)")
    return Check("lab catalogs", True, detail)


def _archive_matches_class_path() -> bool:
    try:
        return class_archive.matches(class_archive.session_class_path())
    except Exception:  # noqa: BLE001 - jars or plugin missing: their own checks report it
        return True


def _class_archive() -> Check:
    archive = class_archive.archive_path()
    if not archive.exists():
        return Check("JVM class archive (faster starts)", True, "not recorded: sessions start without it",
                     "make setup   (or: python -c 'from lakehouse_lab import class_archive; class_archive.record()')")
    if not _archive_matches_class_path():
        return Check("JVM class archive (faster starts)", True,
                     f"{archive.name} was recorded with other jars (the lab's plugins changed): sessions start "
                     "without it", "make setup")
    return Check("JVM class archive (faster starts)", True, f"{archive.name}, {archive.stat().st_size // 2**20} MiB")


def checks() -> list[Check]:
    return [_java(), _javac(), _dot(), _python_packages(), _jars(), _class_archive(), _catalog()]


def report(quiet: bool = False) -> bool:
    """Print the checks (only failures when ``quiet``); True when all pass."""
    results = checks()
    for check in results:
        if quiet and check.ok:
            continue
        mark = "ok " if check.ok else "FAIL"
        print(f"[{mark}] {check.name}: {check.detail}")
        if check.fix:
            print(f"       fix: {check.fix}")
    ok = all(c.ok for c in results)
    if not quiet:
        print("All checks passed." if ok else "Some checks failed; apply the fixes above.")
    return ok
