"""The best response: the action worth most this step once institutions' expected penalties are priced in.

value(a) = E[reward | a] − E[penalty | a], the reward as the environment expects it (`Environment.expected_reward`:
the others repeat what they did last step) and the penalty as the institutions state it
(`Institution.expected_penalty`: detection probability × fine, punishment per detected violation, compliance
costs, and entries on the public record at ``reputation_price`` each). It is myopic: it weighs this step only, so
in the commons it takes every fish the others leave unless the institutions make that cost more than it earns,
and in the public goods game without punishment it gives nothing, the Nash equilibrium. It never punishes (a
sanction costs it and earns it nothing this step), so its ``sanction`` phase takes the fallback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from agents.policy import POLICIES, ScriptedPolicy
from sim.component import Params
from sim.environments.base import ENVIRONMENTS
from sim.incentives import net_value
from sim.institutions.base import Institution
from sim.step import Decision

if TYPE_CHECKING:
    from agents.agent import SocietyAgent


class PricingEnvironments:
    """The environments that implement `Environment.expected_reward`, read from the registry when asked, so a
    new environment that prices actions can host the best response with no change here."""

    def __get__(self, instance: object, owner: type) -> tuple[str, ...]:
        return tuple(name for name in ENVIRONMENTS.names() if ENVIRONMENTS.get(name).prices_actions())


class BestResponseParams(Params):
    reputation_price: float = Field(
        0.0, ge=0, description="What one expected entry on a public record (a detected violation) costs it, in "
                               "payoff units (0: it cares only about fines and punishment).",
    )


@POLICIES.register("best_response")
class BestResponse(ScriptedPolicy):
    """Takes the candidate action with the highest expected reward net of expected penalties (the first of
    equals, in candidate order: the smallest request or contribution that earns the most)."""

    Params = BestResponseParams

    @classmethod
    def reads(cls, institution: type[Institution]) -> bool:
        """It reads an institution's numbers: its expected penalties, or the detection odds others price by."""
        return institution.expected_penalty is not Institution.expected_penalty or hasattr(
            institution, "expected_labels")

    def value(self, agent: SocietyAgent, action: BaseModel) -> float:
        """Expected reward minus expected penalty of ``action`` for ``agent``, this step."""
        return net_value(self.model, agent, action, self.params.reputation_price)

    def on_act(self, decision: Decision) -> BaseModel:
        candidates = self.model.environment.candidates(decision.agent, decision.schema)
        if not candidates:
            return decision.fallback
        values = [self.value(decision.agent, action) for action in candidates]
        return candidates[values.index(max(values))]


BestResponse.environments = PricingEnvironments()  # type: ignore[assignment]
