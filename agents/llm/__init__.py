"""LLM-backed agents: the ``llm`` policy, its prompt templates and memory summaries."""

from agents.llm.policy import LLMPolicy

__all__ = ["LLMPolicy"]
