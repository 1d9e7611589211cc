"""Scripted policies answering a whole phase at once (`ScriptedPolicy`'s ``on_<phase>_batch``) answer as their
``on_<phase>`` does, one decision at a time: the same tables, and the batch is what the model calls. A policy that
reads no observation (`Policy.observes`) is asked without one."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pydantic import BaseModel

from agents.policy import ScriptedPolicy
from agents.scripted.public_goods import AltruisticPunisher, ConditionalCooperator, Selfish
from sim.runner import simulate
from sim.scenario import load_scenario
from sim.step import Decision, Observation

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
CASES = {
    "partner, punishment": ("public_goods_rules.yaml", ["population.1.count=12", "steps=6"]),
    "stranger": ("public_goods_rules.yaml", ["population.1.count=12", "environment.matching=stranger", "steps=6"]),
    "norms with a field of their own": ("norms_rules.yaml", ["steps=6"]),
}


BATCHED = (Selfish, ConditionalCooperator, AltruisticPunisher)


def tables(file: str, overrides: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    result = simulate(load_scenario(SCENARIOS / file, [*overrides, "output.plots=false"]), progress=False)
    return result.model, result.agents


@pytest.mark.parametrize("case", CASES)
def test_public_goods_batches_give_the_tables_of_one_decision_at_a_time(case: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    batched: dict[str, int] = {}
    punished: list[int] = []
    sanction_batch = AltruisticPunisher.on_sanction_batch
    monkeypatch.setattr(AltruisticPunisher, "on_sanction_batch",
                        lambda self, decisions: punished.append(len(decisions)) or sanction_batch(self, decisions))

    def counted(cls: type, batch):
        def answer(self, decisions):
            if type(self) is cls:
                batched[cls.__name__] = batched.get(cls.__name__, 0) + len(decisions)
            return batch(self, decisions)
        return answer

    for cls in BATCHED:
        monkeypatch.setattr(cls, "on_act_batch", counted(cls, cls.on_act_batch))
    model, agents = tables(*CASES[case])
    assert set(batched) == {cls.__name__ for cls in BATCHED}, "each class should answer through its batch hook"
    assert punished, "the punishers should punish through their batch hook"
    for cls in BATCHED:
        monkeypatch.setattr(cls, "on_act_batch", None)  # off: on_act, one decision at a time
    monkeypatch.setattr(AltruisticPunisher, "on_sanction_batch", None)
    one_model, one_agents = tables(*CASES[case])
    pd.testing.assert_frame_equal(model, one_model)
    pd.testing.assert_frame_equal(agents, one_agents)


class OnlyBatch(ScriptedPolicy):
    """Answers the act phase in a batch only: each decision's index in it."""

    def on_act_batch(self, decisions: list[Decision]) -> list[BaseModel]:
        return [decision.answer(contribute=i) for i, decision in enumerate(decisions)]


class Answer(BaseModel):
    contribute: int


def test_a_batch_alone_answers_its_phase_and_one_decision() -> None:
    policy = OnlyBatch(None, None, None)  # type: ignore[arg-type]  # reads no model
    decisions = [Decision(None, "act", None, Answer, lambda agent: Answer(contribute=-1)) for _ in range(3)]
    assert OnlyBatch.answers("act") and not OnlyBatch.answers("sanction")
    assert [a.contribute for a in policy.decide(decisions)] == [0, 1, 2]
    assert policy.handler("act")(decisions[2]).contribute == 0
    assert policy.decide([Decision(None, "sanction", None, Answer, lambda agent: Answer(contribute=-1))]) == [
        Answer(contribute=-1)]


def test_a_policy_that_reads_no_observation_is_asked_without_one(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, list[Observation | None]] = {"selfish": [], "conditional": []}

    def seeing(name: str, batch):
        def answer(self, decisions):
            seen[name].extend(d.observation for d in decisions)
            return batch(self, decisions)
        return answer

    monkeypatch.setattr(Selfish, "on_act_batch", seeing("selfish", Selfish.on_act_batch))
    monkeypatch.setattr(ConditionalCooperator, "on_act_batch", seeing("conditional",
                                                                      ConditionalCooperator.on_act_batch))
    tables(*CASES["partner, punishment"])
    assert not Selfish.observes and seen["selfish"] and all(o is None for o in seen["selfish"])
    assert seen["conditional"] and all(isinstance(o, Observation) for o in seen["conditional"])


SLICED = {
    "public goods, partner": ("public_goods_rules.yaml", ["population.1.count=12", "steps=6"]),
    "public goods, stranger": ("public_goods_rules.yaml", ["population.1.count=12", "environment.matching=stranger",
                                                           "steps=6"]),
    "norms with monitoring": ("norms_rules.yaml", ["steps=6"]),
    "commons, conditional fishers": ("commons_rules.yaml", ["population.1.count=9", "population.2.policy=sustainable",
                                                           "environment.capacity=300", "steps=6"]),
}


@pytest.mark.parametrize("case", SLICED)
def test_a_phase_decided_in_slices_gives_the_tables_of_one_decided_whole(case: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Slices of 3 decisions (`Policy.slice_size`), against every phase given whole: policies that look something
    up once per call (the commons' conditional fishers sum their neighbours' catches) must not change what they
    answer, and the model must put the slices' answers back in order."""
    calls: list[int] = []
    decide = ScriptedPolicy.decide

    def counted(self: ScriptedPolicy, decisions: list[Decision]) -> list[BaseModel]:
        calls.append(len(decisions))
        return decide(self, decisions)

    monkeypatch.setattr(ScriptedPolicy, "decide", counted)
    monkeypatch.setattr(ScriptedPolicy, "slice_size", None)
    whole = tables(*SLICED[case])
    assert max(calls) > 3
    calls.clear()
    monkeypatch.setattr(ScriptedPolicy, "slice_size", 3)
    sliced = tables(*SLICED[case])
    assert max(calls) == 3
    for before, after in zip(whole, sliced, strict=True):
        pd.testing.assert_frame_equal(before, after)
