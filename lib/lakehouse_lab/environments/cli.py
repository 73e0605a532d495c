"""``lakehouse-lab bundle ...`` and ``lakehouse-lab promote ...``: the environment commands.

    lakehouse-lab bundle validate [DIR] [--target T] [--var k=v] [--output json]
    lakehouse-lab bundle deploy [DIR] --target T [--run]
    lakehouse-lab bundle run --target T KEY [DIR]
    lakehouse-lab promote init|status|pr BRANCH|merge BRANCH|release|history
"""
from __future__ import annotations

import json

from .bundles import BundleError


def _vars(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise BundleError(f"--var {pair!r}: expected name=value.")
        name, value = pair.split("=", 1)
        out[name.strip()] = value
    return out


def _validate(args) -> int:
    from .bundles import load_bundle
    from .deploy import target_environment, validate_resources

    bundle = load_bundle(args.dir, args.target, _vars(args.var))
    validate_resources(bundle, target_environment(bundle))  # sources, jobs and task files, as a deploy checks
    if args.output == "json":
        print(bundle.to_json())
        return 0
    print(f"Name: {bundle.name}\nTarget: {bundle.target} (mode: {bundle.mode or 'default'})\nRoot: {bundle.root}")
    for kind, items in bundle.resources.items():
        for key, spec in items.items():
            print(f"  {kind}.{key}: {spec.get('name', key)}")
    for note in bundle.skipped:
        print(f"Warning: skipped {note}")
    print("Validation OK!")
    return 0


def _deploy(args) -> int:
    from .deploy import deploy

    d = deploy(args.dir, args.target, _vars(args.var), run=args.run, full_refresh=args.full_refresh)
    print(f"Deployed {d.bundle.name} to target {d.bundle.target} (environment {d.environment}, "
          f"commit {(d.commit or '-')[:8]}): {d.result}")
    for key, state in d.runs.items():
        print(f"  ran {key}: {state}")
    if d.result != "SUCCEEDED" and d.message:
        print(f"  {d.message}")
    for table, v in d.table_versions.items():
        print(f"  {table}: version {v['before']} -> {v['after']}")
    return 0 if d.result == "SUCCEEDED" else 1


def _run(args) -> int:
    from ..pipelines.cli import table_list
    from .deploy import run

    full_refresh = True if args.full_refresh == "*" else (table_list(args.full_refresh) or False)
    state, details = run(args.key, args.dir, args.target, _vars(args.var), full_refresh, args.validate_only,
                         table_list(args.refresh))
    print(f"{args.key}: {state}")
    for row in details:
        print(f"  {json.dumps(row, default=str)}")
    return 0 if state in ("COMPLETED", "SUCCESS") else 1


def _promote(args) -> int:
    from . import promotion

    repo = promotion.create_repo(reset=args.action == "init" and args.reset)
    if args.action in ("init", "status"):
        print(f"Repository: {repo.path} (on {repo.current_branch})")
        for target in ("staging", "prod"):
            print(f"  deployed/{target}: {(repo.deployed_commit(target) or 'never')[:8]}")
        print("\n".join(f"  {line}" for line in repo.log()))
    elif args.action == "pr":
        pr = repo.open_pull_request(_branch(args))
        print(pr.diff)
        for check in pr.checks:
            print(f"{'PASS' if check.passed else 'FAIL'} {check.name}: {check.detail}")
        return 0 if pr.passed else 1
    elif args.action == "merge":
        pr = repo.open_pull_request(_branch(args))
        print(f"merged as {repo.merge(pr)[:8]}")
    elif args.action == "release":
        report = repo.promote(full_refresh=args.full_refresh)
        for stage in report.stages:
            print(f"{stage.status:12} {stage.name}: {stage.detail}")
        return 0 if report.succeeded else 1
    elif args.action == "history":
        promotion.history().select("started_at", "target", "commit", "result", "message").show(20, False)
    return 0


def _branch(args) -> str:
    if not args.branch:
        raise BundleError(f"lakehouse-lab promote {args.action} needs a BRANCH.")
    return args.branch


def register(subparsers) -> None:
    """Add ``bundle`` and ``promote`` to the ``lakehouse-lab`` command."""
    bundle = subparsers.add_parser("bundle", help="databricks.yml bundles: validate, deploy, run")
    sub = bundle.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)
    for name, func, help_text in (("validate", _validate, "print the bundle resolved for a target"),
                                  ("deploy", _deploy, "register the bundle's jobs and pipelines for a target"),
                                  ("run", _run, "run one deployed job or pipeline")):
        p = sub.add_parser(name, help=help_text)
        if name == "run":
            p.add_argument("key", help="the job or pipeline key in resources")
        p.add_argument("dir", nargs="?", default=None, help="bundle folder (default: nearest databricks.yml)")
        p.add_argument("--target", "-t", default=None, help="target (default: the one marked default)")
        p.add_argument("--var", action="append", metavar="NAME=VALUE", help="set a bundle variable")
        if name == "validate":
            p.add_argument("--output", "-o", choices=["text", "json"], default="text")
        if name == "deploy":
            p.add_argument("--run", action="store_true", help="also run the bundle's pipelines")
        if name == "deploy":
            p.add_argument("--full-refresh", action="store_true", help="recompute streaming tables from scratch")
        if name == "run":
            p.add_argument("--full-refresh", nargs="?", const="*", default=None, metavar="TABLE,…",
                           help="a pipeline: reset and recompute all its tables, or only the listed ones (give it "
                                "after DIR)")
            p.add_argument("--refresh", default=None, metavar="TABLE,…",
                           help="a pipeline: update only the listed tables; the others are EXCLUDED")
            p.add_argument("--validate-only", action="store_true",
                           help="a pipeline: resolve every flow without running any or writing a table")
        p.set_defaults(func=func)

    p = subparsers.add_parser("promote", help="git promotion: feature branch -> main -> staging -> prod")
    p.add_argument("action", choices=["init", "status", "pr", "merge", "release", "history"])
    p.add_argument("branch", nargs="?", help="feature branch (pr, merge)")
    p.add_argument("--reset", action="store_true", help="init: recreate the repository")
    p.add_argument("--full-refresh", action="store_true", help="release: recompute streaming tables")
    p.set_defaults(func=_promote)
