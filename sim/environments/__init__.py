"""The base games. Each module registers one environment under its ``kind:`` name."""

from sim.environments import commons
from sim.environments.base import ENVIRONMENTS, Environment, register_environment

__all__ = ["ENVIRONMENTS", "Environment", "commons", "register_environment"]
