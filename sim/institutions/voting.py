"""Agents vote on a rule of the market, such as the tax rate, by plurality or by Borda count.

Every ``every`` periods, after trade, every agent casts a ballot in phase ``vote``; the winner is in
force from the next period. Plurality: each names one option, the most named wins. Borda (1781):
each ranks the options, an option earns n−1 points for a first place, n−2 for a second, … and 0
when unranked; the most points win. The two can disagree: plurality ignores how a voter ranks the
options it did not name, so a divisive favourite of the largest bloc can beat a broadly acceptable
compromise. By Arrow's theorem (1951) no ranked rule avoids every such paradox. Ties go to the
option listed first.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Literal

import pandas as pd
from pydantic import BaseModel, Field, create_model, field_validator

from sim.component import Problem
from sim.institutions.base import INSTITUTIONS
from sim.institutions.policy_choice import ChoiceParams, PolicyChoice, best_option
from sim.scenario_checks import position
from sim.schemas import schema_builder
from sim.step import StepContext

if TYPE_CHECKING:
    from agents.agent import SocietyAgent
    from sim.scenario import Scenario


def plurality(choices: Iterable[str], options: Sequence[str]) -> tuple[str, dict[str, float]]:
    """The option named most often, and each option's count."""
    counts = dict.fromkeys(options, 0.0)
    for choice in choices:
        counts[choice] += 1
    return best_option(counts), counts


def borda(rankings: Iterable[Sequence[str]], options: Sequence[str]) -> tuple[str, dict[str, float]]:
    """The option with the most Borda points (n−1 for a first place, …, 0 unranked), and the points."""
    points = dict.fromkeys(options, 0.0)
    n = len(options)
    for ranking in rankings:
        for place, option in enumerate(ranking):
            points[option] += n - 1 - place
    return best_option(points), points


class VotingParams(ChoiceParams):
    method: Literal["plurality", "borda"] = Field("plurality", description="How ballots are counted.")
    every: int = Field(1, ge=1, description="Vote after every this many periods.")


class Ranking(BaseModel):
    """Rank the options, best first; an option named twice counts at its first place."""

    ranking: list[str]

    @field_validator("ranking")
    @classmethod
    def _first_place_counts(cls, ranking: list[str]) -> list[str]:
        return list(dict.fromkeys(ranking))


@schema_builder
def ballot_schema(method: str, setting: str, labels: tuple[str, ...]) -> type[BaseModel]:
    """A plurality vote for one of ``labels``, or a ranking of them."""
    options = Literal[labels]
    if method == "plurality":
        return create_model("Vote", __doc__=f"Your vote on the {setting} for the next periods.",
                            choice=(options, Field(description="The option you vote for.")))
    return create_model("Ranking", __base__=Ranking,
                        ranking=(list[options], Field(min_length=1, max_length=len(labels),
                                                      description="The options, best first.")))


@INSTITUTIONS.register("voting")
class Voting(PolicyChoice):
    """A vote among all agents on one setting of another institution."""

    Params = VotingParams
    phase = "vote"

    @classmethod
    def check(cls, params: VotingParams, scenario: Scenario) -> Iterator[Problem]:
        yield from super().check(params, scenario)
        me = position(scenario, params)
        if any(spec.kind == params.target for spec in scenario.institutions[me + 1:]) and not any(
                spec.kind == params.target for spec in scenario.institutions[:me]):
            yield Problem(("target",), f"list '{params.target}' before 'voting', so that a period's trade is settled "
                                       "under the rule it was cleared under before the vote changes it")

    def setup(self) -> None:
        super().setup()
        self.results: list[tuple[int, str, dict[str, float]]] = []

    def briefing(self) -> str:
        p = self.params
        how = ("name the one option you want; the option named most often wins" if p.method == "plurality" else
               "rank the options from best to worst; an option gets one point less for each place lower, and "
               "the option with the most points wins")
        return (
            f"Voting: after every {p.every} period(s) of trade all agents vote on the {p.setting} of the {p.target} "
            f"for the next periods, choosing among {', '.join(self.labels)} (now {self.in_force}). Each voter "
            f"must {how}. Your observation's 'forecast' shows what each option is expected to give you per "
            "period if traders bid their values and ask their costs."
        )

    # -- the vote phase --------------------------------------------------------------------------
    def open_phase(self, agents: list[SocietyAgent]) -> list[SocietyAgent]:
        return agents if self.model.steps % self.params.every == 0 else []

    def phase_schema(self, agent: SocietyAgent) -> type[BaseModel]:
        return ballot_schema(self.params.method, self.params.setting, tuple(self.labels))

    def phase_fallback(self, agent: SocietyAgent) -> BaseModel:
        """No valid ballot counts for the option in force (the status quo)."""
        current = self.in_force if self.in_force in self.settings else self.labels[0]
        schema = self.phase_schema(agent)
        return schema(choice=current) if self.params.method == "plurality" else schema(ranking=[current])

    def enforce(self, ctx: StepContext) -> None:
        ballots = ctx.phase_actions.get(self.phase, {})
        if not ballots:
            return
        if self.params.method == "plurality":
            winner, scores = plurality((b.choice for b in ballots.values()), self.labels)
        else:
            winner, scores = borda((b.ranking for b in ballots.values()), self.labels)
        self.results.append((ctx.step, winner, scores))
        self.adopt(winner)
        tally = ", ".join(f"{name}: {score:g}" for name, score in scores.items())
        ctx.emit("vote_result", value=float(winner), detail=f"{self.params.method}: {winner} wins ({tally})")

    # -- metrics ---------------------------------------------------------------------------------
    def model_reporters(self):
        return {"vote_winner": lambda m: float(self.results[-1][1]) if self.results and
                self.results[-1][0] == m.steps else float("nan")}

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        return {**super().summary(model_table, agent_table), "votes_held": float(len(self.results))}
