"""Institutions: norms, sanctions, reputation, courts, contracts, markets, taxes, voting."""

from sim.institutions.base import INSTITUTIONS, Institution, register_institution

__all__ = ["INSTITUTIONS", "Institution", "register_institution"]
