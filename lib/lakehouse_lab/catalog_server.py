"""The lab's catalog server: the metastore that every kernel shares.

Databricks keeps tables in Unity Catalog, a service outside the notebook. The lab does the same with a
Derby network server (the database engine pyspark ships) holding a Hive metastore under
``<lab root>/catalog/``; the :mod:`lakehouse_lab.catalog` plugin puts ``catalog.schema.table`` names on top.
:func:`ensure_running` finds the server (pid and port files) or starts it in the background, so two
notebook kernels see the same tables and a killed server is restarted with everything still there.

>>> from lakehouse_lab import catalog_server
>>> catalog_server.status()["running"] in (True, False)
True
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from . import jars, paths

DEFAULT_PORT = 15270
START_TIMEOUT_S = 30.0


class CatalogServerError(RuntimeError):
    """The catalog server could not be started or reached; the message says what to look at."""


def _folder() -> Path:
    return paths.under(paths.lab_root(), "catalog")


def _pid_file() -> Path:
    return _folder() / "server.pid"


def _port_file() -> Path:
    return _folder() / "server.port"


def log_file() -> Path:
    return _folder() / "server.log"


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie (exited child not yet reaped) is not alive
        return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0
    except OSError:
        return True


def _accepting(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _free_port(preferred: int) -> int:
    for candidate in (preferred, 0):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the JVM does: TIME_WAIT is fine
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise CatalogServerError("No free local port for the catalog server.")


def status() -> dict:
    """``{"running", "pid", "port", "url", "data", "log"}`` of this lab root's catalog server."""
    pid, port = _read_int(_pid_file()), _read_int(_port_file())
    running = bool(_alive(pid) and port and _accepting(port))
    return {"running": running, "pid": pid if running else None, "port": port if running else None,
            "url": jdbc_url(port) if running and port else None, "data": str(_folder() / "db"),
            "log": str(log_file())}


def jdbc_url(port: int) -> str:
    return f"jdbc:derby://127.0.0.1:{port}/metastore;create=true"


def _server_classpath() -> str:
    from pyspark.find_spark_home import _find_spark_home

    spark_jars = Path(_find_spark_home()) / "jars"
    engine = sorted(spark_jars.glob("derby*.jar"))
    network = [j for j in jars.cached() if "derbynet-" in j.name]
    if not network:
        raise jars.JarsMissing("derbynet jar missing from the jar cache; run `make setup`.")
    return os.pathsep.join(str(p) for p in [*engine, *network])


def ensure_running(port: int | None = None) -> int:
    """Return the port of the running catalog server, starting it first if needed.

    A restarted server takes its previous port when free, so running sessions reconnect to it.
    """
    current = status()
    if current["running"]:
        return current["port"]
    stale = _read_int(_pid_file())
    if _alive(stale):  # our process, but not answering: replace it
        os.kill(stale, signal.SIGTERM)
    port = _free_port(port or _read_int(_port_file()) or DEFAULT_PORT)
    folder = _folder()
    java = os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else "java"
    command = [java, f"-Dderby.system.home={folder / 'db'}", "-Dderby.stream.error.file=" + str(folder / "derby.log"),
               "-Xmx512m", "-cp", _server_classpath(), "org.apache.derby.drda.NetworkServerControl",
               "start", "-h", "127.0.0.1", "-p", str(port), "-noSecurityManager"]
    with open(log_file(), "ab") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=folder)
    _pid_file().write_text(str(proc.pid))
    _port_file().write_text(str(port))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CatalogServerError(f"The catalog server exited with code {proc.returncode}; see {log_file()}.")
        if _accepting(port):
            _create_database(java, port)
            return port
        time.sleep(0.1)
    raise CatalogServerError(f"The catalog server did not answer on port {port} within {START_TIMEOUT_S:.0f} s; "
                             f"see {log_file()}.")


def _schema_marker() -> Path:
    return _folder() / "db" / "metastore-tables.ready"


def schema_ready() -> bool:
    """True once a session has created the metastore's tables in this database (see :func:`mark_schema_ready`).

    Sessions then skip DataNucleus' table checks at connect, which cost about 2 s of every start."""
    return _schema_marker().exists() and (_folder() / "db" / "metastore" / "service.properties").exists()


def mark_schema_ready() -> None:
    _schema_marker().touch()


def _create_database(java: str, port: int) -> None:
    """Create the metastore database once, before any Spark session connects.

    Spark's metastore client opens several connections at once; if each asked Derby to create the database,
    two creations would race and leave a half-made folder. A half-made folder (no ``service.properties``) is
    removed first: it holds nothing.
    """
    database = _folder() / "db" / "metastore"
    if (database / "service.properties").exists():
        return
    _schema_marker().unlink(missing_ok=True)
    if database.exists():
        shutil.rmtree(database)
    classpath = os.pathsep.join(str(j) for j in jars.cached()
                                if any(n in j.name for n in ("derbytools-", "derbyclient-", "derbyshared-")))
    script = f"connect '{jdbc_url(port)}';\nexit;\n"
    done = subprocess.run([java, "-cp", classpath, "org.apache.derby.tools.ij"], input=script, text=True,
                          capture_output=True, timeout=120)
    if done.returncode != 0 or not (database / "service.properties").exists():
        raise CatalogServerError(f"Could not create the metastore database: {done.stdout[-500:]} {done.stderr[-500:]}")


def stop(timeout: float = 10.0) -> bool:
    """Stop this lab root's catalog server; True when one was running."""
    pid = _read_int(_pid_file())
    if not _alive(pid):
        _pid_file().unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    _pid_file().unlink(missing_ok=True)
    return True
