"""Rule-based policies, one module per environment, plus environment-independent ones."""

from agents.rules import commons, contracts, generic, market, proxy_task, public_goods, silly_rules

__all__ = ["commons", "contracts", "generic", "market", "proxy_task", "public_goods", "silly_rules"]
