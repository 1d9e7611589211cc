"""Rule-based policies, one module per environment, plus environment-independent ones."""

from agents.rules import commons, contracts, generic, proxy_task

__all__ = ["commons", "contracts", "generic", "proxy_task"]
