"""Scripted (rule-based) policies, written in Python: one module per environment plus environment-independent ones;
each registers in `agents.policy.POLICIES`."""
