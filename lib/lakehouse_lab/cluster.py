"""The lab cluster: one long-lived Spark driver that every kernel attaches to, as notebooks attach to a
Databricks cluster.

    lakehouse-lab cluster start      # starts the driver in the background, returns when it is ready
    lakehouse-lab cluster status
    lakehouse-lab cluster stop

While it runs, ``lab.start()`` in any process of the same lab root attaches to it in about a second instead of
starting a JVM of its own (10–20 s), and finds its code already warm. Each kernel still gets a SparkSession of its
own (temporary views, SQL settings, current catalog and environment); when the kernel ends, its running Spark
jobs are cancelled. Without a running cluster, ``lab.start()`` starts its own driver, as always;
``LAKEHOUSE_LAB_OWN_DRIVER=1`` makes it do so even when one runs. Before it takes requests, the cluster compacts
the lab's bookkeeping tables that collected many small files (``maintenance``).

The driver answers on 127.0.0.1 only, and only requests carrying the token of ``<lab root>/cluster/driver.json``
(readable by its owner alone), as Py4J itself asks for a secret.

>>> from lakehouse_lab import cluster
>>> cluster.start()                          # doctest: +SKIP
{'pid': 4242, 'port': 40123, 'app_id': 'local-1764160000000', 'attached': 0, 'active_jobs': 0}
>>> cluster.stop()                           # doctest: +SKIP
True
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from . import driver, maintenance, paths

START_TIMEOUT = 180


class ClusterError(RuntimeError):
    """The cluster could not start; the message holds the end of its log."""


def info_file() -> Path:
    return paths.lab_root() / "cluster" / "driver.json"


def log_file() -> Path:
    return paths.lab_root() / "cluster" / "driver.log"


def _read_info() -> dict | None:
    try:
        info = json.loads(info_file().read_text())
    except (OSError, ValueError):
        return None
    return info if _alive(info.get("pid")) else None


def _alive(pid) -> bool:
    import psutil

    try:
        return psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, TypeError, ValueError):
        return False


def _call(info: dict, action: str, payload: dict | None = None, timeout: float = 30) -> dict:
    body = json.dumps({"token": info["token"], **(payload or {})}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{info['port']}/{action}", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def status() -> dict | None:
    """``{'pid', 'port', 'app_id', 'attached', 'active_jobs'}`` of the running cluster, or ``None``."""
    info = _read_info()
    if info is None:
        return None
    try:
        return _call(info, "status", timeout=5)
    except OSError:
        return None


def attach_address() -> tuple[str, str, str] | None:
    """Ask the running cluster for a Py4J server of this process's own; ``None`` when no cluster runs."""
    info = _read_info()
    if info is None:
        return None
    try:
        answer = _call(info, "attach", {"pid": os.getpid()})
    except OSError as exc:
        print(f"lakehouse-lab: the lab cluster (pid {info['pid']}) did not answer ({exc}); "
              "starting a Spark driver of this process's own", file=sys.stderr)
        return None
    return str(answer["port"]), answer["secret"], answer["group"]


def start(timeout: float = START_TIMEOUT) -> dict:
    """Start the cluster in the background (or return the running one's status) once it takes requests."""
    running = status()
    if running is not None:
        return running
    log_file().parent.mkdir(parents=True, exist_ok=True)
    info_file().unlink(missing_ok=True)
    env = {**os.environ, driver.ENV_OFF: "1"}
    with open(log_file(), "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "lakehouse_lab.cluster"], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=paths.project_root(), start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ClusterError(f"the lab cluster exited with code {proc.returncode}:\n{_log_tail()}")
        running = status()
        if running is not None:
            return running
        time.sleep(0.25)
    proc.kill()
    raise ClusterError(f"the lab cluster did not start within {timeout:.0f} s:\n{_log_tail()}")


def stop(timeout: float = 60) -> bool:
    """Stop the running cluster; ``False`` when none was running."""
    info = _read_info()
    if info is None:
        info_file().unlink(missing_ok=True)
        return False
    try:
        _call(info, "stop", timeout=10)
    except OSError:
        pass
    deadline = time.monotonic() + timeout
    while _alive(info["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(info["pid"]):
        os.kill(info["pid"], 9)
    info_file().unlink(missing_ok=True)
    return True


def _log_tail(lines: int = 20) -> str:
    try:
        return "\n".join(log_file().read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _Driver:
    """The cluster process: the lab session, one Py4J server per attached process, and their clean-up."""

    def __init__(self, spark):
        self.spark = spark
        self.token = secrets.token_hex(16)
        self.clients: dict[int, list] = {}  # client pid -> [(py4j server, job group)]
        self.lock = threading.Lock()
        self.done = threading.Event()

    def attach(self, pid: int) -> dict:
        group = f"lakehouse-lab-kernel-{pid}-{secrets.token_hex(3)}"
        server = driver.open_server(self.spark)
        with self.lock:
            self.clients.setdefault(pid, []).append((server, group))
        return {"port": server.getListeningPort(), "secret": server.secret(), "group": group}

    def status(self) -> dict:
        with self.lock:
            attached = sum(_alive(pid) for pid in self.clients)
        return {"pid": os.getpid(), "port": self.port, "app_id": self.spark.sparkContext.applicationId,
                "attached": attached, "active_jobs": len(self.spark.sparkContext.statusTracker().getActiveJobsIds())}

    def reap(self) -> None:
        """Every second: cancel the jobs and close the servers of processes that ended."""
        while not self.done.wait(1.0):
            with self.lock:
                ended = [pid for pid in self.clients if not _alive(pid)]
                released = [entry for pid in ended for entry in self.clients.pop(pid)]
            for server, group in released:
                driver.close_server(self.spark, server, group)

    def serve(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if not secrets.compare_digest(str(request.get("token", "")), owner.token):
                    self.send_error(403, "wrong token")
                    return
                action = self.path.strip("/")
                answer = {"attach": lambda: owner.attach(int(request["pid"])), "status": owner.status,
                          "stop": lambda: {"stopping": True}}.get(action)
                if answer is None:
                    self.send_error(404, f"no action {action!r}")
                    return
                body = json.dumps(answer()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if action == "stop":
                    owner.done.set()

            def log_message(self, *_args):
                pass

        http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = http.server_address[1]
        threading.Thread(target=http.serve_forever, daemon=True, name="cluster-http").start()
        threading.Thread(target=self.reap, daemon=True, name="cluster-reaper").start()
        _write_info({"pid": os.getpid(), "port": self.port, "token": self.token})
        print(f"lab cluster ready: pid {os.getpid()}, {self.spark.sparkContext.applicationId}", flush=True)
        self.done.wait()
        http.shutdown()


def _write_info(info: dict) -> None:
    target = info_file()
    temporary = target.with_suffix(".tmp")
    temporary.unlink(missing_ok=True)
    with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(json.dumps(info))
    temporary.replace(target)


def _compact(spark) -> None:
    """Compact the bookkeeping tables that collected many small files (see ``maintenance``), before the
    cluster takes requests: a compaction running beside a kernel's ``MERGE`` into the same table (job history,
    alert deliveries) could make that ``MERGE`` fail on a conflict."""
    try:
        for name in maintenance.shorten_logs(spark):
            print(f"{name}: its log now keeps a day of commits", flush=True)
        for name, (before, after) in maintenance.compact_bookkeeping_tables(spark).items():
            print(f"compacted {name}: {before} files -> {after}", flush=True)
    except Exception as exc:  # noqa: BLE001 - maintenance is optional; the cluster serves regardless
        print(f"compaction of the bookkeeping tables stopped: {exc}", flush=True)


def main() -> int:
    import lakehouse_lab as lab

    spark = lab.start()
    _compact(spark)
    try:
        _Driver(spark).serve()
    finally:
        info_file().unlink(missing_ok=True)
        lab.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
