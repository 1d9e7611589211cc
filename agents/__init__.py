"""Who decides: the agent, its memory, rule-based policies and the LLM policy."""

from agents.agent import SocietyAgent
from agents.policy import POLICIES, Policy, ScriptedPolicy

__all__ = ["POLICIES", "Policy", "ScriptedPolicy", "SocietyAgent"]
