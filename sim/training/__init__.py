"""Training from simulations: credit, candidates, export (data); train, adapters (the alignment loop, issue 22).

Importing this package imports neither torch nor TRL: `sim.training.train` loads them when a training starts.
"""
