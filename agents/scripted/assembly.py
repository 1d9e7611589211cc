"""Members of an assembly (`sim.institutions.assembly`), for any environment that knows what they want."""

from __future__ import annotations

from pydantic import BaseModel

from agents.policy import POLICIES, ScriptedPolicy
from sim.step import Decision


def by_distance(values: list[str], ideal: float) -> list[str]:
    """``values`` (labels of numbers) from the closest to ``ideal`` to the farthest; a tie to the lower one."""
    return sorted(values, key=lambda v: (abs(float(v) - ideal), float(v)))


@POLICIES.register("sincere")
class Sincere(ScriptedPolicy):
    """An assembly member who proposes and votes for the values nearest its own ideals.

    For each item on the menu it proposes the value closest to its ideal (what the environment says it wants) and
    votes sincerely: the closest candidate under plurality, all candidates by distance under Borda. Preferences
    that fall with distance are single-peaked, so a majority of such members elects the median ideal in a
    pairwise vote. Without an ideal for an item it proposes and votes for the value in force. In the environment's
    own phases it takes the declared fallback (a citizen abstains)."""

    def on_assembly_propose(self, decision: Decision) -> BaseModel:
        view = decision.observation.private["assembly"]
        return decision.schema(**{
            field: self._ranked(view, name, view["menu"][name])[0] for field, name in view["fields"].items()})

    def on_assembly_vote(self, decision: Decision) -> BaseModel:
        view = decision.observation.private["assembly"]
        fields = {name: field for field, name in view["fields"].items()}
        ranked = {fields[name]: self._ranked(view, name, candidates) for name, candidates in view["candidates"].items()}
        plurality = view["method"] == "plurality"
        return decision.schema(**{f: (r[0] if plurality else r) for f, r in ranked.items()})

    @staticmethod
    def _ranked(view: dict, name: str, values: list[str]) -> list[str]:
        ideal = view.get("your_ideal", {}).get(name)
        if ideal is None:
            current = view["in_force"][name]
            return [current, *[v for v in values if v != current]]
        return by_distance(values, ideal)

