"""The base games. Each module registers one environment under its ``kind:`` name."""

from sim.environments import commons, market, principal_agent, proxy_task, public_goods, silly_rules
from sim.environments.base import ENVIRONMENTS, Environment, register_environment

__all__ = [
    "ENVIRONMENTS", "Environment", "commons", "market", "principal_agent", "proxy_task", "public_goods",
    "register_environment", "silly_rules",
]
