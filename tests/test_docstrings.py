"""Every example in the package's docstrings runs and prints what it shows."""
import doctest
import importlib
import pkgutil

import pytest

import lakehouse_lab

MODULES = sorted(m.name for m in pkgutil.walk_packages(lakehouse_lab.__path__, "lakehouse_lab.")
                 if ".repo_template" not in m.name)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples in {name} failed"


def test_every_module_is_collected():
    assert {"lakehouse_lab.pipelines.runner", "lakehouse_lab.jobs.spec", "lakehouse_lab.dbutils"} <= set(MODULES)
