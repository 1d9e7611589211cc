"""Environment-generic baselines that respond to incentives: the reference LLM agents' responses are judged by.

- ``best_response``: the payoff maximiser that reads the institutions in force as numbers (expected fines,
  punishment, compliance costs, reputation) through `Institution.expected_penalty`.
- ``roth_erev``: Roth & Erev's reinforcement learner, which knows nothing of the rules and learns from what its
  actions earned once institutions have acted.

Each module registers its policy in `agents.policy.POLICIES`.
"""
