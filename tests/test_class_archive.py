import json
import os
import subprocess
import sys

import pytest

from lakehouse_lab import class_archive


@pytest.fixture
def archive(tmp_path, monkeypatch):
    path = tmp_path / "classes.jsa"
    monkeypatch.setattr(class_archive, "archive_path", lambda: path)
    for name in (class_archive.RECORD_ENV, class_archive.DISABLE_ENV, class_archive.EXTRA_ENV):
        monkeypatch.delenv(name, raising=False)
    return path


def test_the_archive_is_used_only_once_recorded(archive, monkeypatch):
    assert class_archive.java_options([]) == []
    archive.write_bytes(b"archive")
    assert class_archive.java_options([]) == [f"-XX:SharedArchiveFile={archive}"]
    monkeypatch.setenv(class_archive.DISABLE_ENV, "1")
    assert class_archive.java_options([]) == []


def test_recording_asks_the_jvm_to_write_the_archive_at_exit(archive, monkeypatch):
    monkeypatch.setenv(class_archive.RECORD_ENV, "1")
    monkeypatch.setenv(class_archive.EXTRA_ENV, "-Xlog:cds")
    assert class_archive.java_options([]) == [f"-XX:ArchiveClassesAtExit={archive}", "-Xlog:cds"]


def test_a_session_loads_spark_classes_from_the_recorded_archive(tmp_path):
    """`make setup` records the archive; a new lab process maps it (the JVM logs where each class came from)."""
    assert class_archive.archive_path().exists(), "make setup records the archive"
    log = tmp_path / "classes.log"
    env = {**os.environ, "CI": "1", class_archive.EXTRA_ENV: f"-Xlog:class+load=info:file={log}"}
    done = subprocess.run([sys.executable, "-m", "lakehouse_lab.cli", "sql", "SELECT 1 AS one", "--json"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = log.read_text().splitlines()
    from_archive = [line for line in lines if "source: shared objects file (top)" in line]
    assert any("org.apache.spark.SparkContext " in line for line in from_archive)
    assert len(from_archive) > len(lines) / 2


def test_an_archive_recorded_with_other_jars_is_left_out(archive, tmp_path):
    """After a plugin or jar change the JVM would refuse the archive with a warning at every start."""
    jar = tmp_path / "plugin.jar"
    jar.write_bytes(b"one")
    archive.write_bytes(b"archive")
    assert class_archive.java_options([jar]) == [f"-XX:SharedArchiveFile={archive}"], "no stamp yet: the JVM decides"
    class_archive.stamp_path().write_text(json.dumps(class_archive._stamp([jar])))
    assert class_archive.java_options([jar]) == [f"-XX:SharedArchiveFile={archive}"]
    jar.write_bytes(b"rebuilt")
    assert class_archive.java_options([jar]) == []
    assert class_archive.java_options([tmp_path / "other.jar"]) == []
