"""A constitution: principles written down and read by every agent, enforced by nothing but the reading.

Stańczak et al. (2025) count constitutions among the internal ways to fill an incomplete contract, and propose
measuring a constitution's effect as a distance between output distributions with and without it (claim C7):
sim/analysis/effect.py does that over a sweep whose cases differ by this institution. Its text joins the shared
rules at the head of every prompt; it adds no action, observation or enforcement, so only agents that read the
rules' text (LLM agents) can respond to it, and `alignsim validate` says so when no group does.
"""

from __future__ import annotations

import pandas as pd
from pydantic import Field

from sim.component import Params
from sim.institutions.base import INSTITUTIONS, Institution


class ConstitutionParams(Params):
    text: str = Field(min_length=1, description="The principles, as every agent reads them.")
    title: str = Field("Constitution", min_length=1, description="The heading the text appears under.")


@INSTITUTIONS.register("constitution")
class Constitution(Institution):
    """Adds its principles to the rules every agent reads."""

    Params = ConstitutionParams

    def briefing(self) -> str:
        return f"{self.params.title}:\n{self.params.text.strip()}"

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        return {"constitution_chars": float(len(self.params.text.strip()))}
