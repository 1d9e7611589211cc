"""Training from simulations: credit, candidates, export (data); train, adapters (the alignment loop, issue 22)."""
