"""Analyses of sweeps that the paper's claims rest on: the GovSim table, a treatment's effect on the action
distribution, and optimisation pressure against a proxy. Each reads a sweep directory and returns a DataFrame;
`alignsim report SWEEP --table NAME` prints it (sim/analysis/report.py)."""
