"""Rule-based policies, one module per environment, plus environment-independent ones."""

from agents.rules import commons, generic

__all__ = ["commons", "generic"]
