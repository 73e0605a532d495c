"""environment.yml stays in sync with pyproject.toml, notebooks are valid, and the CLI explains itself."""
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    python = re.search(r"<(\d+)\.(\d+)", project["requires-python"])
    assert f"python={python.group(1)}.{int(python.group(2)) - 1}" in conda
    assert any(d.startswith("openjdk=17") for d in conda) and "graphviz" in conda
    # every Python package comes from pyproject through the editable install, pinned in one place
    assert pip == ["-e .[dev]"]
    assert set(project["optional-dependencies"]) == {"dev"}


def test_every_runtime_dependency_is_pinned_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["dev"]
    loose = [d for d in deps if "==" not in d]
    assert not loose, f"unpinned: {loose}"


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make run" in readme
    assert re.search(r"^make test$", ci, re.M)


def test_cli_help_lists_the_main_commands():
    out = subprocess.run([sys.executable, "-m", "lakehouse_lab.cli", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for command in ("doctor", "run", "sql", "catalog", "reset"):
        assert command in out


def test_every_notebook_is_valid_with_cell_ids():
    import nbformat

    notebooks = sorted((ROOT / "notebooks").rglob("*.ipynb"))
    assert len(notebooks) >= 9
    for path in notebooks:
        raw = json.loads(path.read_text())
        missing = [i for i, cell in enumerate(raw["cells"]) if "id" not in cell]
        assert not missing, f"{path.name}: cells {missing} have no id (nbformat.validator.normalize adds them)"
        nbformat.validate(nbformat.from_dict(raw))
