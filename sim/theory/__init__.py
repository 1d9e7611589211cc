"""Closed-form results from the published models, used by rule-based agents, docs and tests."""
