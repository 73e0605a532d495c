"""Bundles in the shape of Databricks Asset Bundles' ``databricks.yml``, resolved for one target.

A bundle folder holds ``databricks.yml`` with ``bundle.name``, ``include`` globs of more YAML files,
``variables`` (``${var.x}``), ``targets`` (``default``, ``mode: development|production``, overrides) and
``resources.jobs`` / ``resources.pipelines``. :func:`load_bundle` merges the files, applies the target's
overrides (job tasks merged by ``task_key``), substitutes ``${var.x}``, ``${bundle.target}``,
``${bundle.name}`` and ``${workspace.current_user.*}``, and applies the mode's presets. Resource kinds
the lab does not run (apps, dashboards, alerts...) are reported in ``skipped`` and left out.

>>> from lakehouse_lab.environments.bundles import load_bundle
>>> b = load_bundle(target="prod")                                  # doctest: +SKIP
>>> b.resources["pipelines"]["orders_pipeline"]["catalog"]         # doctest: +SKIP
'prod_catalog'
"""
from __future__ import annotations

import copy
import getpass
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from .. import paths
from ..config import ConfigError, describe_validation, key_line, parse_yaml

BUNDLE_FILES = ("databricks.yml", "databricks.yaml")
SUPPORTED_KINDS = ("jobs", "pipelines")
# Lists merged item by item on this key when a target overrides a resource (as the Databricks CLI does).
MERGE_KEYS = {"tasks": "task_key", "job_clusters": "job_cluster_key", "parameters": "name",
              "environments": "environment_key", "clusters": "label"}
# Keys whose values are paths relative to the YAML file that declares them.
PATH_KEYS = {"path", "notebook_path", "python_file", "include", "root_path", "whl", "jar", "requirements"}
REFERENCE = re.compile(r"\$\{([A-Za-z0-9_.\-]+)\}")


class BundleError(ConfigError):
    """A bundle that cannot be used; the message names the file, the line or key and the valid choices."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _BundleSection(_Strict):
    name: str
    git: dict | None = None
    uuid: str | None = None
    databricks_cli_version: str | None = None
    cluster_id: str | None = None


class _Target(_Strict):
    default: bool = False
    mode: str | None = None
    variables: dict | None = None
    resources: dict | None = None
    workspace: dict | None = None
    presets: dict | None = None
    run_as: dict | None = None
    git: dict | None = None
    permissions: list | None = None
    bundle: dict | None = None
    cluster_id: str | None = None


class _Root(_Strict):
    bundle: _BundleSection
    include: list[str] = []
    variables: dict[str, dict | str | int | float | bool | None] = {}
    targets: dict[str, _Target | None] = {}
    resources: dict[str, dict | None] = {}
    workspace: dict | None = None
    artifacts: dict | None = None
    sync: dict | None = None
    permissions: list | None = None
    run_as: dict | None = None
    presets: dict | None = None
    experimental: dict | None = None


class _Include(_Strict):
    resources: dict[str, dict | None] = {}
    targets: dict[str, _Target | None] = {}
    variables: dict[str, dict | str | int | float | bool | None] = {}


@dataclass
class _Fragment:
    """A piece of configuration and where it came from (for error messages and relative paths)."""
    file: Path
    text: str
    loc: tuple
    data: object


@dataclass
class Bundle:
    """A bundle resolved for one target: its resources with every ``${...}`` substituted."""

    name: str
    target: str
    mode: str | None
    root: Path
    variables: dict[str, object]
    resources: dict[str, dict[str, dict]]
    skipped: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    git_branch: str = "main"

    def to_dict(self) -> dict:
        """The resolved bundle as ``bundle validate --output json`` prints it."""
        return {"bundle": {"name": self.name, "target": self.target, "mode": self.mode,
                           "git": {"branch": self.git_branch}},
                "variables": {k: {"value": v} for k, v in self.variables.items()},
                "resources": self.resources,
                "skipped": self.skipped,
                "files": [str(f.relative_to(self.root)) for f in self.files]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def resource(self, key: str) -> tuple[str, dict]:
        """``('jobs'|'pipelines', spec)`` of the resource ``key``; errors list the keys that exist."""
        for kind in SUPPORTED_KINDS:
            if key in self.resources.get(kind, {}):
                return kind, self.resources[kind][key]
        keys = [k for kind in SUPPORTED_KINDS for k in self.resources.get(kind, {})]
        raise BundleError(f"{self.root / BUNDLE_FILES[0]}: no job or pipeline {key!r} in target "
                          f"{self.target!r}. Resources: {', '.join(keys) or 'none'}.")

    def path(self, relative: str) -> Path:
        """A path of the resolved bundle (relative to its root) as an absolute path."""
        return (self.root / relative).resolve()

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{kind}</td><td><code>{key}</code></td><td>{spec.get('name', '')}</td></tr>"
                       for kind in SUPPORTED_KINDS for key, spec in self.resources.get(kind, {}).items())
        skipped = f"<p>Skipped: {'; '.join(self.skipped)}</p>" if self.skipped else ""
        return (f"<p><b>Bundle</b> <code>{self.name}</code>, target <code>{self.target}</code> "
                f"(mode {self.mode or 'default'})</p><table><tr><th>kind</th><th>key</th><th>name</th></tr>"
                f"{rows}</table>{skipped}")


def find_bundle_root(start: Path | str | None = None) -> Path:
    """The folder with ``databricks.yml``: ``start`` or its nearest parent (the project root by default)."""
    first = Path(start).resolve() if start else Path.cwd()
    for folder in (first, *first.parents):
        if any((folder / name).is_file() for name in BUNDLE_FILES):
            return folder
    fallback = paths.project_root()
    if start is None and any((fallback / n).is_file() for n in BUNDLE_FILES):
        return fallback
    raise BundleError(f"{first}: no databricks.yml here or in a parent folder.")


def load_bundle(root: Path | str | None = None, target: str | None = None,
                variables: dict[str, str] | None = None, user: str | None = None) -> Bundle:
    """Load the bundle in ``root`` for ``target`` (default: the target marked ``default: true``).

    ``variables`` are ``--var name=value`` overrides; they win over the target's values and the defaults.
    Every problem raises one :class:`BundleError` naming the file and the line or key.
    """
    root = find_bundle_root(root)
    main = next(root / n for n in BUNDLE_FILES if (root / n).is_file())
    top = _read(main, _Root)
    fragments, files = _fragments(root, main, top)
    target_name, target_frag = _select_target(main, fragments, target)
    mode = (target_frag.data or {}).get("mode") if target_frag else None
    if mode not in (None, "development", "production"):
        raise BundleError(f"{main}: line {key_line(target_frag.text, (*target_frag.loc, 'mode'))}: "
                          f"targets.{target_name}.mode: {mode!r} is not valid. Valid modes: development, production.")
    user = user or getpass.getuser()
    name = top["bundle"]["name"]
    context = {"bundle.name": name, "bundle.target": target_name,
               "workspace.current_user.userName": user, "workspace.current_user.short_name": short_name(user)}
    values = _variables(main, fragments, target_frag, variables or {}, context)
    context.update({f"var.{k}": v for k, v in values.items()})
    resources, skipped = _resources(root, fragments, target_frag, context)
    if mode == "development":
        _development_presets(resources, user)
    branch = ((target_frag.data or {}).get("git") or {}).get("branch") if target_frag else None
    branch = branch or (top["bundle"].get("git") or {}).get("branch") or "main"
    return Bundle(name=name, target=target_name, mode=mode, root=root, variables=values,
                  resources=resources, skipped=skipped, files=files, git_branch=branch)


def short_name(user: str) -> str:
    """A user name as an identifier, as ``${workspace.current_user.short_name}`` gives it.

    >>> short_name("Ada.Lovelace@example.com")
    'ada_lovelace'
    """
    return re.sub(r"[^a-z0-9]+", "_", user.split("@")[0].lower()).strip("_") or "user"


def _read(path: Path, model: type[BaseModel]) -> dict:
    text = path.read_text()
    try:
        data = parse_yaml(text, path)
    except ConfigError as exc:
        raise BundleError(str(exc)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise BundleError(f"{path}: expected a mapping of keys (bundle, include, variables, targets, resources).")
    try:
        model.model_validate(data)
    except ValidationError as exc:
        raise BundleError(describe_validation(exc, path, text)) from None
    return data


def _fragments(root: Path, main: Path, top: dict) -> tuple[list[_Fragment], list[Path]]:
    """The main file and every file matched by ``include`` (relative to the bundle root), in order."""
    text = main.read_text()
    fragments = [_Fragment(main, text, (), top)]
    files = [main]
    for i, pattern in enumerate(top.get("include") or []):
        matched = sorted(p for p in root.glob(pattern) if p.is_file())
        if not matched:
            raise BundleError(f"{main}: line {key_line(text, ('include', i))}: include[{i}]: "
                              f"{pattern!r} matches no file under {root}.")
        for path in matched:
            if path not in files:
                fragments.append(_Fragment(path, path.read_text(), (), _read(path, _Include)))
                files.append(path)
    return fragments, files


def _select_target(main: Path, fragments: list[_Fragment], wanted: str | None) -> tuple[str, _Fragment | None]:
    targets: dict[str, _Fragment] = {}
    for frag in fragments:
        for name, spec in (frag.data.get("targets") or {}).items():
            targets[name] = _Fragment(frag.file, frag.text, ("targets", name), spec or {})
    if not targets:
        return wanted or "default", None
    if wanted is None:
        defaults = [n for n, f in targets.items() if f.data.get("default")]
        if len(defaults) != 1:
            raise BundleError(f"{main}: targets: {'no target is' if not defaults else 'several targets are'} "
                              f"marked default: true; choose one with --target. "
                              f"Valid targets: {', '.join(sorted(targets))}.")
        wanted = defaults[0]
    if wanted not in targets:
        line = key_line(main.read_text(), ("targets",))
        raise BundleError(f"{main}: line {line}: targets: unknown target {wanted!r}. "
                          f"Valid targets: {', '.join(sorted(targets))}.")
    return wanted, targets[wanted]


def _variables(main, fragments, target_frag, overrides, context) -> dict[str, object]:
    """Each declared variable's value: ``--var`` > ``BUNDLE_VAR_<name>`` > the target's value > default."""
    declared: dict[str, tuple[_Fragment, object]] = {}
    for frag in fragments:
        for name, spec in (frag.data.get("variables") or {}).items():
            default = spec.get("default") if isinstance(spec, dict) else spec
            declared[name] = (frag, default)
    target_values = (target_frag.data.get("variables") or {}) if target_frag else {}
    for name in [*target_values, *overrides]:
        if name not in declared:
            where = (f"{target_frag.file}: line {key_line(target_frag.text, (*target_frag.loc, 'variables', name))}: "
                     f"targets.{target_frag.loc[1]}.variables.{name}") if name in target_values else f"--var {name}"
            raise BundleError(f"{where}: variable {name!r} is not declared under variables in {main}. "
                              f"Declared variables: {', '.join(sorted(declared)) or 'none'}.")
    values = {}
    for name, (frag, default) in declared.items():
        value = overrides.get(name, os.environ.get(f"BUNDLE_VAR_{name}", target_values.get(name, default)))
        if value is None:
            raise BundleError(f"{frag.file}: line {key_line(frag.text, ('variables', name))}: variables.{name}: "
                              f"no value (no default, no target value, no --var {name}=...).")
        values[name] = _substitute(value, context, frag, ("variables", name))
    return values


def _resources(root, fragments, target_frag, context) -> tuple[dict, list[str]]:
    merged: dict[str, dict[str, dict]] = {kind: {} for kind in SUPPORTED_KINDS}
    skipped: list[str] = []
    origin: dict[tuple[str, str], Path] = {}
    sources = [_Fragment(f.file, f.text, ("resources",), f.data.get("resources") or {}) for f in fragments]
    if target_frag and target_frag.data.get("resources"):
        sources.append(_Fragment(target_frag.file, target_frag.text, (*target_frag.loc, "resources"),
                                 target_frag.data["resources"]))
    for i, src in enumerate(sources):
        is_override = target_frag is not None and i == len(sources) - 1 and src.loc[0] == "targets"
        for kind, items in (src.data or {}).items():
            if kind not in SUPPORTED_KINDS:
                for key in items or {}:
                    skipped.append(f"{kind}.{key} ({src.file.name}): resource kind {kind!r} is not run by the lab")
                continue
            for key, spec in (items or {}).items():
                resolved = _substitute(spec or {}, context, src, (*src.loc, kind, key))
                resolved = _relative_paths(resolved, src.file.parent, root)
                if key in merged[kind] and not is_override:
                    raise BundleError(f"{src.file}: line {key_line(src.text, (*src.loc, kind, key))}: "
                                      f"resources.{kind}.{key} is already defined in {origin[(kind, key)]}.")
                if key not in merged[kind] and is_override:
                    raise BundleError(f"{src.file}: line {key_line(src.text, (*src.loc, kind, key))}: target "
                                      f"overrides resources.{kind}.{key}, which is not defined. "
                                      f"Defined: {', '.join(merged[kind]) or 'none'}.")
                merged[kind][key] = merge(merged[kind].get(key, {}), resolved)
                origin.setdefault((kind, key), src.file)
    return merged, skipped


def merge(base, override):
    """Deep-merge ``override`` into ``base``: mappings by key, lists of tasks by ``task_key`` (and the
    other keys in ``MERGE_KEYS``), anything else replaced.

    >>> merge({"tasks": [{"task_key": "a", "x": 1}]}, {"tasks": [{"task_key": "a", "y": 2}, {"task_key": "b"}]})
    {'tasks': [{'task_key': 'a', 'x': 1, 'y': 2}, {'task_key': 'b'}]}
    """
    if not isinstance(base, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key in MERGE_KEYS and isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = _merge_list(out[key], value, MERGE_KEYS[key])
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _merge_list(base: list, override: list, item_key: str) -> list:
    out = [copy.deepcopy(x) for x in base]
    index = {x.get(item_key): i for i, x in enumerate(out) if isinstance(x, dict)}
    for item in override:
        key = item.get(item_key) if isinstance(item, dict) else None
        if key is not None and key in index:
            out[index[key]] = merge(out[index[key]], item)
        else:
            out.append(copy.deepcopy(item))
    return out


def _substitute(value, context: dict, frag: _Fragment, loc: tuple):
    """Replace ``${...}`` references; an unknown one is an error naming the file, line and key."""
    if isinstance(value, dict):
        return {k: _substitute(v, context, frag, (*loc, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, context, frag, (*loc, i)) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match) -> str:
        ref = match.group(1)
        if ref in context:
            return str(context[ref])
        if ref.startswith("resources."):
            return match.group(0)  # resolved at deploy time (ids of deployed resources)
        declared = sorted(k[4:] for k in context if k.startswith("var."))
        line = key_line(frag.text, loc)
        what = (f"undefined variable {ref[4:]!r}. Declared variables: {', '.join(declared) or 'none'}"
                if ref.startswith("var.") else
                f"unknown reference ${{{ref}}}. Valid: ${{var.<name>}}, ${{bundle.name}}, ${{bundle.target}}, "
                f"${{workspace.current_user.userName}}, ${{resources.<kind>.<key>.id}}")
        raise BundleError(f"{frag.file}: line {line}: {'.'.join(map(str, loc))}: {what}.")

    whole = REFERENCE.fullmatch(value)
    if whole and whole.group(1) in context and not isinstance(context[whole.group(1)], str):
        return context[whole.group(1)]  # keep a variable's type when it is the whole value
    return REFERENCE.sub(replace, value)


def _relative_paths(value, folder: Path, root: Path, key: str | None = None):
    """Paths in a resource (``libraries[].file.path``, ``notebook_path``...) made relative to the bundle root."""
    if isinstance(value, dict):
        return {k: _relative_paths(v, folder, root, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative_paths(v, folder, root, key) for v in value]
    if key in PATH_KEYS and isinstance(value, str) and not value.startswith(("/", "$", "dbfs:")) and "://" not in value:
        return os.path.relpath((folder / value).resolve(), root.resolve())
    return value


def _development_presets(resources: dict, user: str) -> None:
    """``mode: development``: names prefixed ``[dev <user>] ``, schedules and triggers paused, pipelines
    in development mode."""
    prefix = f"[dev {user}] "
    for kind in SUPPORTED_KINDS:
        for key, spec in resources.get(kind, {}).items():
            spec["name"] = prefix + str(spec.get("name", key))
            if kind == "pipelines":
                spec["development"] = True
            for trigger in ("schedule", "trigger", "continuous"):
                if isinstance(spec.get(trigger), dict):
                    spec[trigger]["pause_status"] = "PAUSED"
