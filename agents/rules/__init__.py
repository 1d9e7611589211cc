"""Rule-based policies, one module per environment plus environment-independent ones; each registers in
`agents.policy.POLICIES`."""
