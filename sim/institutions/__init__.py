"""Institutions: norms, sanctions, reputation, courts, contracts, markets, taxes, voting.

Every module registers its institutions in `sim.institutions.base.INSTITUTIONS` under their ``kind:``.
"""
