"""Institutions: norms, sanctions, reputation, courts, contracts, markets, taxes, voting."""

from sim.institutions import court, ratings, relational
from sim.institutions.base import INSTITUTIONS, Institution, register_institution

__all__ = ["INSTITUTIONS", "Institution", "court", "ratings", "register_institution", "relational"]
