"""A social planner picks a rule of the market by a welfare function, before the first period.

The planner sees each option's forecast (every agent's true utility per period) and picks the option
that maximises its welfare function over the agents: utilitarian (the sum; Bentham, Harsanyi 1955),
Nash (the sum of log utilities, i.e. the Nash product; Nash 1950, Kaneko & Nakamura 1979: it needs
positive utilities, so give agents an ``endowment``) or egalitarian (the worst-off agent's utility;
Rawls 1971, Sen 1970). ``decider: rule`` computes the argmax; ``decider: llm`` hands the same table,
summarised per group, to the scenario's LLM and takes its pick (an unreadable answer keeps the rule
in force and is counted). Where groups differ in what a rule does to them, the welfare functions
disagree, and the choice of function decides who is left behind (Stańczak et al. 2025, §economic
alignment).
"""

from __future__ import annotations

import json
from typing import Literal

import pandas as pd
from pydantic import BaseModel, Field, create_model

from sim.institutions.base import INSTITUTIONS
from sim.institutions.policy_choice import ChoiceParams, PolicyChoice, best_option
from sim.llm.asker import Question
from sim.llm.prompts import FixedPrompt, PromptTemplates
from sim.step import StepContext

WELFARE_TEXT = {
    "utilitarian": "the sum of all agents' utilities",
    "nash": "the sum of the logarithms of all agents' utilities (the Nash product; a gain counts more the "
            "worse off its receiver is)",
    "egalitarian": "the utility of the worst-off agent (Rawls' max-min)",
}


class PlannerParams(ChoiceParams):
    welfare: Literal["utilitarian", "nash", "egalitarian"] = Field(
        "utilitarian", description="The welfare function the planner maximises over agents' true utilities."
    )
    decider: Literal["rule", "llm"] = Field("rule", description="Who decides: the argmax, or the scenario's LLM.")


class Pick(BaseModel):
    """The planner's decision: only the option. (A free-text reason let SmolLM2-135M pad its reply with
    whitespace until max_tokens cut the JSON short, so the choice was lost.)"""

    choice: str


@INSTITUTIONS.register("planner")
class Planner(PolicyChoice):
    """Chooses a market rule once, by a welfare function of the forecast true utilities."""

    Params = PlannerParams

    @classmethod
    def uses_llm(cls, params: PlannerParams) -> bool:
        return params.decider == "llm"

    def setup(self) -> None:
        super().setup()
        self.invalid = 0
        self.announced = False
        choice = self._llm_pick() if self.params.decider == "llm" else self.rule_pick()
        self.adopt(choice)

    def enforce(self, ctx: StepContext) -> None:
        """Put the choice in the events table, once."""
        if not self.announced:
            self.announced = True
            ctx.emit("plan", value=float(self.in_force),
                     detail=f"{self.params.welfare} ({self.params.decider}): {self.in_force}")

    def rule_pick(self) -> str:
        return best_option(self.welfare_scores(self.params.welfare))

    def briefing(self) -> str:
        p = self.params
        who = "a planner" if p.decider == "rule" else "an AI planner"
        return (f"Policy: before trade begins, {who} set the {p.setting} of the {p.target} to {self.in_force} "
                f"(options: {', '.join(self.labels)}), choosing the option that maximises "
                f"{WELFARE_TEXT[p.welfare]}.")

    # -- the LLM planner -------------------------------------------------------------------------
    def _llm_pick(self) -> str:
        """The LLM's pick, asked once before the first step; an answer unreadable twice keeps the rule in force."""
        p = self.params
        schema = create_model("Pick", __base__=Pick, choice=(Literal[tuple(self.labels)], Field(
            description=f"The {p.setting} you choose.")))
        templates = PromptTemplates.load(self.model.spec.environment.kind)
        system = templates.instruction("plan", {"rules": self.market.briefing(), "setting": p.setting,
                                                "target": p.target, "welfare": WELFARE_TEXT[p.welfare]})
        evidence = json.dumps(self._evidence(), sort_keys=True)
        [answer] = self.model.asker.ask(
            [Question(purpose="plan", step=0, phase="plan", schema=schema, prompt=FixedPrompt(system, evidence))]
        )
        if answer.value is None:
            self.invalid += 1
            return self.in_force if self.in_force in self.settings else self.labels[0]
        return answer.value.choice

    def _evidence(self) -> dict:
        sizes: dict[str, int] = {}
        for agent in self.model.active_agents():
            sizes[agent.group] = sizes.get(agent.group, 0) + 1
        return {
            "group_sizes": sizes,
            "options": {name: {"per_agent_by_group": self.group_means(o), "total": round(sum(o.true.values()), 2),
                               "worst_off_agent": round(min(o.true.values()), 2)}
                        for name, o in self.forecasts().items()},
        }

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        return {**super().summary(model_table, agent_table), "planner_invalid": float(self.invalid)}
