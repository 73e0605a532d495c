"""The capstone's project: a git repository holding a bundle the learner fills in, under the lab root.

:func:`start_project` creates ``<lab root>/capstone/inventory`` with a ``databricks.yml`` (targets ``dev`` in
development mode and ``prod`` in production mode from ``main``) and an empty ``pipelines/`` and ``resources/``;
the learner writes the pipeline definitions and resources with :meth:`Project.write`, commits them, deploys
with :func:`lakehouse_lab.environments.deploy.deploy`.

>>> import tempfile, pathlib
>>> project = start_project(pathlib.Path(tempfile.mkdtemp()) / "p")
>>> sorted(p.name for p in project.path.iterdir() if not p.name.startswith("."))
['databricks.yml', 'pipelines', 'resources']
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import paths

BUNDLE = """\
# Capstone bundle: the inventory pipeline and its job, deployed to dev and prod.
bundle:
  name: inventory_capstone

include:
  - resources/*.yml

variables:
  catalog:
    default: dev_catalog

targets:
  dev:
    default: true
    mode: development
  prod:
    mode: production
    git:
      branch: main
    variables:
      catalog: prod_catalog
"""


@dataclass
class Project:
    """The capstone repository; ``write`` adds a file, ``commit`` records the work on ``main``."""
    path: Path

    def write(self, relative: str, text: str) -> Path:
        target = (self.path / relative).resolve()
        if self.path.resolve() not in target.parents:
            raise ValueError(f"{relative!r} is outside the project {self.path}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return target

    def git(self, *args: str) -> str:
        done = subprocess.run(["git", *args], cwd=self.path, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def commit(self, message: str) -> str:
        """Commit every change on the current branch; returns the new commit id."""
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    def files(self) -> list[str]:
        return self.git("ls-files").splitlines()


def project_path() -> Path:
    return paths.lab_root() / "capstone" / "inventory"


def start_project(path: Path | str | None = None) -> Project:
    """A fresh capstone repository (an existing one at ``path`` is replaced) with the bundle committed."""
    project = Project(Path(path) if path else project_path())
    if project.path.exists():
        shutil.rmtree(project.path)
    (project.path / "pipelines").mkdir(parents=True)
    (project.path / "resources").mkdir()
    project.write("databricks.yml", BUNDLE)
    project.git("init", "-q", "-b", "main")
    project.git("config", "user.email", "learner@lakehouse.lab")
    project.git("config", "user.name", "Lakehouse Lab learner")
    project.commit("Bundle skeleton")
    return project
