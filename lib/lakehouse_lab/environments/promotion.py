"""Git-based promotion on a real repository: feature branch → pull request (diff + checks) → main → staging
→ integration tests → prod, with rollback of code and data when a stage fails.

The lab creates the repository under ``<lab root>/promotion/repo`` from the course bundle (``databricks.yml``,
``resources/``, ``notebooks/pipelines/orders/``) plus tests: unit tests of the pipeline definitions (run on
each pull request) and integration tests (``tests/integration/*.sql``, queries that must return no rows).

>>> from lakehouse_lab.environments import promotion
>>> repo = promotion.create_repo(reset=True)                                   # doctest: +SKIP
>>> repo.branch("feature/keep-cancelled")                                      # doctest: +SKIP
>>> repo.commit_change("notebooks/pipelines/orders/02_silver_orders.sql",
...                    replace=("WHERE order_id IS NOT NULL", "WHERE true"), message="...")  # doctest: +SKIP
>>> pr = repo.open_pull_request("feature/keep-cancelled")                      # doctest: +SKIP
>>> repo.merge(pr); report = repo.promote()                                    # doctest: +SKIP
"""
from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .. import config, paths
from ..catalog import ensure_bookkeeping_tables
from . import deploy as deployer
from . import versions
from .bundles import BundleError, load_bundle

TEMPLATE = Path(__file__).parent / "repo_template"
COPIED = ("databricks.yml", "resources", "notebooks/pipelines/orders")
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "Lakehouse Learner", "GIT_AUTHOR_EMAIL": "learner@lakehouse.lab",
                "GIT_COMMITTER_NAME": "Lakehouse Learner", "GIT_COMMITTER_EMAIL": "learner@lakehouse.lab"}


class PromotionError(BundleError):
    """A promotion step that cannot be done (unknown branch, failing checks, nothing to merge...)."""


@dataclass
class Check:
    """One check of a pull request or a stage: passed or not, with what it saw."""
    name: str
    passed: bool
    detail: str = ""

    def _repr_html_(self) -> str:
        mark = "✅" if self.passed else "❌"
        return f"<div>{mark} <b>{html.escape(self.name)}</b> <small>{html.escape(self.detail)}</small></div>"


@dataclass
class PullRequest:
    """A branch proposed for ``main``: its commits, its diff and the checks run on it."""
    branch: str
    base: str
    commits: list[str]
    diff: str
    checks: list[Check] = field(default_factory=list)
    merged_as: str | None = None

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def _repr_html_(self) -> str:
        lines = []
        for line in self.diff.splitlines():
            color = "#1b7f3b" if line.startswith("+") else "#b3261e" if line.startswith("-") else "#444"
            lines.append(f"<span style='color:{color}'>{html.escape(line)}</span>")
        checks = "".join(c._repr_html_() for c in self.checks)
        state = "merged" if self.merged_as else ("ready to merge" if self.passed else "checks failing")
        return (f"<p><b>Pull request</b> <code>{self.branch}</code> → <code>{self.base}</code> ({state})</p>"
                f"<ul>{''.join(f'<li>{html.escape(c)}</li>' for c in self.commits)}</ul>{checks}"
                f"<pre style='font-size:85%'>{''.join(l + chr(10) for l in lines)}</pre>")


@dataclass
class Stage:
    name: str
    status: str  # PASSED | FAILED | SKIPPED | ROLLED_BACK
    detail: str = ""


@dataclass
class PromotionReport:
    """The stages of one promotion of ``main``, in order; ``succeeded`` when prod got the commit."""
    commit: str
    stages: list[Stage] = field(default_factory=list)
    deployments: dict[str, deployer.Deployment] = field(default_factory=dict)
    rollback: dict[str, str] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return bool(self.stages) and all(s.status == "PASSED" for s in self.stages)

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def _repr_html_(self) -> str:
        colors = {"PASSED": "#2a9d8f", "FAILED": "#e63946", "SKIPPED": "#aaa", "ROLLED_BACK": "#f4a261"}
        cells = "".join(f"<td style='background:{colors.get(s.status, '#ddd')};color:#fff;padding:6px'>"
                        f"<b>{html.escape(s.name)}</b><br>{s.status}</td>" for s in self.stages)
        details = "".join(f"<li><b>{html.escape(s.name)}</b>: {html.escape(s.detail)}</li>"
                          for s in self.stages if s.detail)
        undo = "".join(f"<li><code>{html.escape(t)}</code>: {html.escape(a)}</li>" for t, a in self.rollback.items())
        return (f"<p><b>Promotion of</b> <code>{self.commit[:8]}</code></p><table><tr>{cells}</tr></table>"
                f"<ul>{details}</ul>" + (f"<p>Rollback:</p><ul>{undo}</ul>" if undo else ""))


class Repo:
    """The learner's deployment repository (a real git repository) and the promotion steps on it."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def git(self, *args: str, check: bool = True) -> str:
        """Run ``git <args>`` in the repository and return its output."""
        done = subprocess.run(["git", "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null", *args],
                              cwd=self.path, capture_output=True, text=True, env={**os.environ, **GIT_IDENTITY})
        if check and done.returncode != 0:
            raise PromotionError(f"git {' '.join(args)} failed in {self.path}: {done.stderr.strip() or done.stdout}")
        return done.stdout.strip()

    # ---- the developer's side ----
    @property
    def current_branch(self) -> str:
        return self.git("rev-parse", "--abbrev-ref", "HEAD")

    def head(self, ref: str = "HEAD") -> str:
        return self.git("rev-parse", ref)

    def log(self, ref: str = "main", n: int = 10) -> list[str]:
        """``<short sha> <subject>`` of the last ``n`` commits of ``ref``."""
        return self.git("log", "--format=%h %s", f"-{n}", ref).splitlines()

    def branch(self, name: str, start: str = "main") -> None:
        """Create the feature branch ``name`` from ``start`` and check it out."""
        self.git("checkout", "-q", "-b", name, start)

    def commit_change(self, path: str, text: str | None = None, *, replace: tuple[str, str] | None = None,
                      message: str) -> str:
        """Change one file (new ``text``, or ``replace=(old, new)``) on the current branch and commit it."""
        if self.current_branch == "main":
            raise PromotionError("Refused: commit on a feature branch, not on main (repo.branch('feature/...')).")
        target = self.path / path
        if replace is not None:
            old = target.read_text()
            if replace[0] not in old:
                raise PromotionError(f"{path}: text to replace not found: {replace[0]!r}")
            text = old.replace(replace[0], replace[1], 1)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        self.git("add", path)
        self.git("commit", "-q", "-m", message)
        return self.head()

    def open_pull_request(self, branch: str, base: str = "main", dry_run: bool = True) -> PullRequest:
        """The diff of ``branch`` against ``base`` and its checks: the unit tests of the pipeline
        definitions, then (``dry_run``) a data-quality dry run of the branch's pipeline on dev."""
        branches = self.git("branch", "--format=%(refname:short)").splitlines()
        for name in (branch, base):
            if name not in branches:
                raise PromotionError(f"no branch {name!r} in {self.path} (branches: {', '.join(branches)}); "
                                     "create one with repo.branch(NAME) or `git -C REPO checkout -b NAME`.")
        commits = self.git("log", "--format=%h %s", f"{base}..{branch}").splitlines()
        if not commits:
            raise PromotionError(f"{branch!r} has no commits that {base!r} lacks: nothing to review.")
        pr = PullRequest(branch, base, commits, self.git("diff", f"{base}...{branch}"))
        self.git("checkout", "-q", branch)
        try:
            pr.checks.append(self.unit_tests())
            if dry_run and pr.checks[-1].passed:
                pr.checks.append(self.dev_dry_run())
        finally:
            self.git("checkout", "-q", base)
        return pr

    def unit_tests(self) -> Check:
        """Run the repository's unit tests (``pytest tests/unit``) in a separate process."""
        lib = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([lib, os.environ.get("PYTHONPATH", "")])}
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/unit"], cwd=self.path,
                              capture_output=True, text=True, env=env)
        summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
        failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
        return Check("unit tests of the pipeline definitions", done.returncode == 0,
                     summary + ("; " + "; ".join(failed) if failed else ""))

    def dev_dry_run(self) -> Check:
        """Deploy the checked-out branch to dev and run its pipeline from scratch; expectations are reported."""
        try:
            d = deployer.deploy(self.path, "dev", run=True, full_refresh=True)
        except Exception as exc:  # noqa: BLE001 - the check reports what went wrong
            return Check("data-quality dry run on dev", False, f"{type(exc).__name__}: {exc}")
        return Check("data-quality dry run on dev", d.result == "SUCCEEDED",
                     f"{d.result}; {d.message or _expectation_summary(d)}")

    def merge(self, pr: PullRequest, force: bool = False) -> str:
        """Merge a pull request whose checks passed into ``main`` (a merge commit); returns its sha."""
        if not pr.passed and not force:
            failing = ", ".join(c.name for c in pr.checks if not c.passed) or "no checks were run"
            raise PromotionError(f"Refused: pull request {pr.branch!r} cannot be merged: {failing}.")
        self.git("checkout", "-q", pr.base)
        self.git("merge", "-q", "--no-ff", pr.branch, "-m", f"Merge pull request: {pr.branch}")
        pr.merged_as = self.head()
        return pr.merged_as

    def _first_parent(self, ref: str) -> str | None:
        return self.git("rev-parse", "-q", "--verify", f"{ref}^1", check=False) or None

    # ---- the release side ----
    def deployed_commit(self, target: str) -> str | None:
        """The commit last promoted successfully to ``target`` (tag ``deployed/<target>``)."""
        out = self.git("rev-parse", "-q", "--verify", f"refs/tags/deployed/{target}^{{commit}}", check=False)
        return out or None

    def integration_tests(self, target: str) -> Check:
        """Run ``tests/integration/*.sql`` in ``target``'s catalog and schema (as a job there would, with
        unqualified table names); each query lists offending rows, so it must return none."""
        env = deployer.target_environment(load_bundle(self.path, target))
        failures, ran = [], 0
        with deployer.as_environment(env) as spark:
            for sql_file in sorted((self.path / "tests" / "integration").glob("*.sql")):
                ran += 1
                try:
                    bad = spark.sql(sql_file.read_text()).count()
                except Exception as exc:  # noqa: BLE001 - a query that cannot run is a failed test
                    failures.append(f"{sql_file.stem}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                    continue
                if bad:
                    failures.append(f"{sql_file.stem}: {bad} offending row(s)")
        return Check(f"integration tests on {target}", not failures,
                     "; ".join(failures) or f"{ran} queries returned no rows")

    def promote(self, targets: tuple[str, ...] = ("staging", "prod"), full_refresh: bool = False) -> PromotionReport:
        """Deploy ``main`` to each target in turn and test it there; the first failure stops the promotion
        and rolls that target back (data with ``RESTORE``, code to the previously deployed commit).
        ``full_refresh`` recomputes the pipelines' streaming tables from scratch (a first deployment)."""
        if self.current_branch != "main":
            self.git("checkout", "-q", "main")
        report = PromotionReport(self.head())
        for i, target in enumerate(targets):
            if not self._promote_to(target, report, full_refresh):
                report.stages += [Stage(f"deploy to {t}", "SKIPPED", "an earlier stage failed") for t in targets[i + 1:]]
                break
        return report

    def _promote_to(self, target: str, report: PromotionReport, full_refresh: bool) -> bool:
        deploy_stage = f"deploy to {target}"
        try:
            d = deployer.deploy(self.path, target, run=True, full_refresh=full_refresh)
        except (BundleError, config.ConfigError) as exc:  # refused or invalid: nothing was deployed
            report.stages.append(Stage(deploy_stage, "FAILED", str(exc)))
            return False
        report.deployments[target] = d
        if d.result != "SUCCEEDED":
            report.stages.append(Stage(deploy_stage, "FAILED", d.message))
            self.rollback(d, report, reason=f"deploy failed: {d.message}")
            return False
        report.stages.append(Stage(deploy_stage, "PASSED", _expectation_summary(d)))
        check = self.integration_tests(target)
        report.stages.append(Stage(check.name, "PASSED" if check.passed else "FAILED", check.detail))
        if not check.passed:
            self.rollback(d, report, reason=f"integration tests failed: {check.detail}")
            return False
        self.git("tag", "-f", f"deployed/{target}", d.commit or self.head())
        return True

    def rollback(self, d: deployer.Deployment, report: PromotionReport | None = None, reason: str = "") -> dict:
        """Undo a deployment: ``RESTORE`` every table it changed to its version before the deploy, put
        ``main``'s code back to the commit deployed before (a rollback commit), re-register it, and mark
        the deployment ``ROLLED_BACK`` in ``system.lakeflow.deployments``."""
        with deployer.as_environment(d.environment) as spark:
            done = versions.restore(spark, d.changed_tables())
        previous = self.deployed_commit(d.bundle.target) or self._first_parent("main")
        if previous and self.head("main") != previous:
            self.git("checkout", "-q", "main")
            self.git("read-tree", "-u", "--reset", previous)
            self.git("commit", "-q", "--allow-empty", "-m",
                     f"Roll back {d.bundle.target} to {previous[:8]}: {reason}"[:200])
        bundle, env, registered = load_bundle(self.path, d.bundle.target), d.environment, None
        registered = deployer.validate_resources(bundle, env)
        deployer.register(bundle, env, self.head(), registered)
        to = f"rolled back to {previous[:8]}" if previous else "data restored; no earlier commit to return to"
        d.result, d.message = "ROLLED_BACK", f"{reason} — {to}"
        import lakehouse_lab as lab

        deployer.update_result(lab.start(), d)
        code = f"main reset to the tree of {previous[:8]} ({self.head()[:8]})" if previous else "unchanged (first commit)"
        summary = {**done, "code": code}
        if report is not None:
            report.rollback.update(summary)
            report.stages.append(Stage(f"rollback {d.bundle.target}", "ROLLED_BACK", reason))
        return summary


def _expectation_summary(d: deployer.Deployment) -> str:
    parts = []
    for key, rows in d.details.items():
        for row in rows:
            failed = row.get("failed_expectations") or {}
            if row.get("rows_dropped") or failed:
                parts.append(f"{row['dataset']}: dropped {row.get('rows_dropped', 0)}"
                             + (f", failed {failed}" if failed else ""))
    changed = len(d.changed_tables())
    return (f"{changed} table(s) changed" + ("; " + "; ".join(parts) if parts else "")).strip()


def repo_path() -> Path:
    return paths.lab_root() / "promotion" / "repo"


def create_repo(path: Path | str | None = None, source: Path | str | None = None, reset: bool = False) -> Repo:
    """Create (or open) the deployment repository: the course bundle and its tests, one commit on ``main``."""
    path = Path(path) if path else repo_path()
    if (path / ".git").exists() and not reset:
        return Repo(path)
    if path.exists():
        lab_root = paths.lab_root().resolve()
        if lab_root not in path.resolve().parents and not reset:
            raise PromotionError(f"Refusing to replace {path}: it is outside the lab root {lab_root}.")
        shutil.rmtree(path)
    source = Path(source) if source else paths.project_root()
    path.mkdir(parents=True)
    for item in COPIED:
        src = source / item
        if not src.exists():
            raise PromotionError(f"{src}: missing; the deployment repository is made from the course bundle.")
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, path / item)
    shutil.copytree(TEMPLATE, path, dirs_exist_ok=True)
    (path / "gitignore").rename(path / ".gitignore")
    repo = Repo(path)
    repo.git("init", "-q", "-b", "main")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "Orders pipeline: bundle, sources and tests")
    return repo


def history(target: str | None = None):
    """The recorded deployments (newest first), optionally of one target, as a DataFrame."""
    import lakehouse_lab as lab

    spark = lab.start()
    ensure_bookkeeping_tables(spark, {deployer.DEPLOYMENTS_TABLE: deployer.DEPLOYMENTS_SCHEMA})
    df = spark.table(deployer.DEPLOYMENTS_TABLE)
    if target:
        df = df.where(df.target == target)
    return df.orderBy(df.started_at.desc())


def environments() -> list[str]:
    return config.environments()
