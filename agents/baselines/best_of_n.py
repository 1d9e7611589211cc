"""Best-of-n against a proxy: optimisation pressure on a misspecified reward (Gao, Schulman & Hilton 2022).

Each act-phase decision, the agent draws ``n`` candidate actions from a base policy and a proxy picks the one it
scores highest. The base is the LLM (``n`` samples of the same decision, `Asker.sample`: one batch, sample i on
the question's seed + i) or, as the rule-based reference, uniform draws within the action's bounds (the
``random`` policy). The proxy is what the agent is paid as far as it can tell: the environment's expected
specified reward less the institutions' expected penalties (`sim.incentives`), so with no institution it is the
misspecified reward itself, and an institution in force changes what the proxy prefers: a treatment on the
optimisation curve. Raising ``n`` raises the pressure: KL(best-of-n || base) = log n − (n − 1)/n.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, Field

from agents.baselines.best_response import PricingEnvironments
from agents.llm.policy import LLMPolicy, LLMPolicyParams
from agents.policy import POLICIES, Policy
from agents.scripted.generic import RandomParams, RandomPolicy
from sim.component import Params, Problem
from sim.incentives import net_value
from sim.llm.types import SEED_SPAN
from sim.step import Decision

if TYPE_CHECKING:
    from agents.agent import SocietyAgent
    from sim.model import SocietyModel
    from sim.scenario import GroupSpec, Scenario


class BestOfNParams(LLMPolicyParams):
    n: int = Field(1, ge=1, le=SEED_SPAN, description="Candidates drawn per decision; the proxy picks the best.")
    base: Literal["llm", "random"] = Field(
        "llm", description="Where candidates come from: the LLM (n samples of the decision) or uniform draws "
                           "within the action's bounds (the rule-based reference, no LLM).",
    )
    high: float = Field(1.0, gt=0, le=1, description="random base: draw from the lowest `high` share of each range.")
    reputation_price: float = Field(0.0, ge=0, description="What the proxy charges per expected record entry.")


@POLICIES.register("best_of_n")
class BestOfN(LLMPolicy):
    """Picks, among n candidates from its base, the one with the highest proxy score."""

    Params = BestOfNParams

    def __init__(self, model: SocietyModel, params: BestOfNParams, group: GroupSpec) -> None:
        super().__init__(model, params, group)
        self.sampler = RandomPolicy(model, RandomParams(high=params.high), group)
        self.chosen_scores: list[float] = []
        self.first_scores: list[float] = []

    @classmethod
    def uses_llm(cls, params: Params) -> bool:
        return cast(BestOfNParams, params).base == "llm"

    @classmethod
    def check(cls, params: Params, scenario: Scenario) -> Iterator[Problem]:
        yield from super().check(params, scenario)
        if cast(BestOfNParams, params).candidates > 1:
            yield Problem(("candidates",), "best_of_n draws its own n candidates and acts on the proxy's pick: set n, "
                                           "not candidates (which the llm policy scores for export)")

    def score(self, agent: SocietyAgent, action: BaseModel) -> float:
        """The proxy: expected specified reward less expected penalties under the institutions in force."""
        return net_value(self.model, agent, action, self.params.reputation_price)

    def pick(self, decision: Decision, candidates: list[BaseModel]) -> BaseModel:
        """The candidate the proxy scores highest (the first drawn of equals); the fallback if none is valid."""
        if not candidates:
            return decision.fallback
        scores = [self.score(decision.agent, c) for c in candidates]
        best = scores.index(max(scores))
        self.chosen_scores.append(scores[best])
        self.first_scores.append(scores[0])
        return candidates[best]

    # -- a whole phase -----------------------------------------------------------------------------
    @classmethod
    def decide_all(cls, batch: list[tuple[Policy, Decision]]) -> list[BaseModel]:
        """The act phase: n candidates per decision (LLM samples in one batch per n), the proxy's pick. Other
        phases: the LLM base answers them as an ``llm`` agent would; the random base takes their fallback."""
        answers: dict[int, BaseModel] = {}
        by_n: dict[int, list[int]] = defaultdict(list)
        talk: list[int] = []
        for i, (policy, decision) in enumerate(batch):
            policy = cast(BestOfN, policy)
            if policy.params.base == "random":
                answers[i] = policy.pick(decision, [policy.sampler.on_act(decision) for _ in range(policy.params.n)]
                                         ) if decision.phase == "act" else decision.fallback
            elif decision.phase == "act":
                by_n[policy.params.n].append(i)
            else:
                talk.append(i)
        if talk:
            for i, answer in zip(talk, LLMPolicy.decide_all([batch[i] for i in talk]), strict=True):
                answers[i] = answer
        for n, indices in by_n.items():
            chosen = [batch[i] for i in indices]
            model = chosen[0][0].model
            samples = model.asker.sample(LLMPolicy.questions(chosen), n)
            for i, (policy, decision), candidates in zip(indices, chosen, samples, strict=True):
                policy = cast(BestOfN, policy)
                answers[i] = policy.pick(decision, [a.value for a in candidates if a.value is not None])
                policy.remember(decision, answers[i])
        return [answers[i] for i in range(len(batch))]

    @classmethod
    def summary(cls, model: SocietyModel) -> dict[str, float]:
        """The proxy score of what was picked, and of the first candidate (what n = 1 would have done)."""
        groups = [p for p in model.policies.values() if isinstance(p, cls)]
        picked = [s for p in groups for s in p.chosen_scores]
        first = [s for p in groups for s in p.first_scores]
        out: dict[str, Any] = {
            "bon_proxy": sum(picked) / len(picked) if picked else float("nan"),
            "bon_proxy_first": sum(first) / len(first) if first else float("nan"),
        }
        if any(p.params.base == "llm" for p in groups):
            out.update(LLMPolicy.summary(model))
        return out


BestOfN.environments = PricingEnvironments()  # type: ignore[assignment]
