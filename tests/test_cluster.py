"""The lab cluster: kernels attach to one warm driver, each with a session of its own; a kernel that dies has
its Spark jobs cancelled; only holders of the token may attach; stop leaves nothing behind."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error

import pytest

from lakehouse_lab import cluster

KERNEL = """
import json, lakehouse_lab as lab
from lakehouse_lab import driver
spark = lab.start()
seen_before = spark.catalog.tableExists("mine")
spark.range(3).createOrReplaceTempView("mine")
print(json.dumps({"app": spark.sparkContext.applicationId, "attached": driver.attached(), "seen": seen_before,
                  "catalog": spark.sql("SELECT current_catalog()").first()[0]}))
"""
BUSY = "import lakehouse_lab as lab\nlab.start().range(10**12).selectExpr('max(id)').collect()"


def _python(code: str, **kwargs):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, **kwargs)


def _wait(condition, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False


def test_kernels_attach_to_one_driver_and_die_cleanly():
    if cluster.status() is not None:
        pytest.skip("a lab cluster runs in this lab root (make lab?): this test would stop it")
    info = cluster.start()
    try:
        assert cluster.start()["pid"] == info["pid"]  # a second start returns the running cluster
        first, second = (json.loads(_python(KERNEL).stdout.strip().splitlines()[-1]) for _ in range(2))
        assert first["app"] == second["app"] == info["app_id"] and first["attached"]
        assert not first["seen"] and not second["seen"]  # each kernel sees its own temporary views only
        assert first["catalog"] == "dev_catalog"
        own = _python(KERNEL, env={**os.environ, "LAKEHOUSE_LAB_OWN_DRIVER": "1"})
        assert json.loads(own.stdout.strip().splitlines()[-1])["app"] != info["app_id"]

        busy = subprocess.Popen([sys.executable, "-c", BUSY])
        assert _wait(lambda: cluster.status()["active_jobs"] > 0), "the busy kernel's job never started"
        busy.kill()
        busy.wait()
        assert _wait(lambda: cluster.status()["active_jobs"] == 0, 30), "the dead kernel's job was not cancelled"

        stolen = {**json.loads(cluster.info_file().read_text()), "token": "guess"}
        with pytest.raises(urllib.error.HTTPError, match="403"):
            cluster._call(stolen, "attach", {"pid": os.getpid()})
        assert oct(cluster.info_file().stat().st_mode & 0o777) == "0o600"
    finally:
        assert cluster.stop()
    assert cluster.status() is None and not cluster.info_file().exists()
    assert not cluster._alive(info["pid"])
    assert cluster.attach_address() is None  # lab.start() then starts a driver of its own
