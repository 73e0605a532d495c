"""dbutils.widgets outside a kernel: defaults, choices checked, and task parameters taking precedence."""
import pytest

from lakehouse_lab.dbutils import InputWidgetNotDefined, dbutils
from lakehouse_lab.jobs import context


@pytest.fixture()
def widgets():
    yield dbutils.widgets
    dbutils.widgets.removeAll()


def test_multiselect_default_and_a_job_parameter_as_on_databricks(widgets):
    widgets.multiselect("regions", "EU", ["EU", "US", "APAC"], "Regions")
    assert widgets.get("regions") == "EU"
    task = context.TaskContext(job_id=1, job_name="j", run_id=2, task_key="t", parameters={"regions": "EU,US"})
    with context.active(task):
        assert widgets.get("regions") == "EU,US" and widgets.getAll() == {"regions": "EU,US"}


def test_a_default_outside_the_choices_is_refused_and_nothing_is_defined(widgets):
    with pytest.raises(ValueError, match="default 'MARS' is not one of"):
        widgets.multiselect("regions", "MARS", ["EU", "US"])
    with pytest.raises(InputWidgetNotDefined, match="No input widget named 'regions'"):
        widgets.get("regions")
