"""Environments and promotion: configs per environment, the environment widget, bundles, deployments and
git-based promotion with rollback.

>>> from lakehouse_lab.environments import load_environment_config
>>> load_environment_config("prod")["database"]["catalog"]
'prod_catalog'
"""
from __future__ import annotations

from ..config import ConfigError, EnvironmentConfig, environments, load_config
from .bundles import Bundle, BundleError, load_bundle
from .widgets import EnvironmentView, environment_widget


def load_environment_config(env_name: str) -> dict:
    """The course guide's ``load_environment_config``: ``config/<env_name>.yaml`` as a dict, validated
    (from any working directory; errors name the file, the line and the valid environments)."""
    return load_config(env_name).as_dict()


__all__ = ["load_environment_config", "environment_widget", "EnvironmentView", "load_bundle", "Bundle",
           "BundleError", "ConfigError", "EnvironmentConfig", "environments", "load_config"]
