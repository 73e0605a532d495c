"""Where the lab keeps things: the project folder, the lab root (all state), and the jar cache.

The lab root is ``.lab/`` in the project unless ``LAKEHOUSE_LAB_HOME`` points elsewhere. Everything the
lab writes (warehouse, checkpoints, landing files, catalog folders, logs) lives under it, so
``lab.reset()`` can remove it all without touching anything else. Jars live outside it (``.cache/``),
so a reset never forces a new download.

>>> from lakehouse_lab import paths
>>> paths.lab_root().name in {".lab"} or "LAKEHOUSE_LAB_HOME" in __import__("os").environ
True
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_MARKERS = ("pyproject.toml", "config")
LAB_MARKER = ".lakehouse-lab"  # in every lab root the lab created: reset deletes only such folders


def project_root() -> Path:
    """The project checkout: the nearest folder above the working directory (or this package) with
    ``pyproject.toml`` and ``config/``; ``LAKEHOUSE_LAB_PROJECT`` overrides."""
    if os.environ.get("LAKEHOUSE_LAB_PROJECT"):
        return Path(os.environ["LAKEHOUSE_LAB_PROJECT"]).resolve()
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            if all((folder / m).exists() for m in PROJECT_MARKERS):
                return folder
    return Path.cwd().resolve()


def lab_root() -> Path:
    """All lab state lives here: ``$LAKEHOUSE_LAB_HOME`` or ``<project>/.lab``."""
    home = os.environ.get("LAKEHOUSE_LAB_HOME")
    return Path(home).expanduser().resolve() if home else project_root() / ".lab"


def jar_cache() -> Path:
    """Resolved JVM jars (Delta); survives ``lab.reset()``. ``LAKEHOUSE_LAB_JARS`` overrides."""
    override = os.environ.get("LAKEHOUSE_LAB_JARS")
    return Path(override).expanduser().resolve() if override else project_root() / ".cache" / "jars"


def config_dir() -> Path:
    """The environment configs (``dev.yaml``, ``staging.yaml``, ``prod.yaml``)."""
    return project_root() / "config"


def under(root: Path, *parts: str) -> Path:
    """``root/parts…``, created if missing. A lab root created here gets its :data:`LAB_MARKER`."""
    if not root.exists() and root == lab_root():
        root.mkdir(parents=True)
        (root / LAB_MARKER).write_text("Lakehouse Lab state: `lakehouse-lab reset --yes` deletes this folder.\n")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def is_lab_root(folder: Path) -> bool:
    """Whether ``folder`` holds lab state and nothing else: created by the lab (its marker file), or left by a
    version without the marker (a warehouse and the Spark log settings).

    >>> is_lab_root(Path("/tmp"))
    False
    """
    return (folder / LAB_MARKER).is_file() or (
        (folder / "warehouse").is_dir() and (folder / "conf" / "log4j2.properties").is_file())
