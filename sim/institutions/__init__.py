"""Institutions: norms, sanctions, reputation, courts, contracts, markets, taxes, voting."""

from sim.institutions import court, planner, quota, ratings, relational, tax, voting
from sim.institutions.base import INSTITUTIONS, Institution, register_institution

__all__ = [
    "INSTITUTIONS", "Institution", "court", "planner", "quota", "ratings", "register_institution", "relational", "tax",
    "voting",
]
