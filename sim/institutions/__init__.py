"""Institutions: norms, sanctions, reputation, courts, contracts, markets, taxes, voting."""

from sim.institutions import (
    classification,
    court,
    monitoring,
    norms,
    planner,
    quota,
    ratings,
    relational,
    reputation,
    sanctions,
    tax,
    voting,
)
from sim.institutions.base import INSTITUTIONS, Institution, register_institution

__all__ = [
    "INSTITUTIONS", "Institution", "classification", "court", "monitoring", "norms", "planner", "quota", "ratings",
    "register_institution", "relational", "reputation", "sanctions", "tax", "voting",
]
