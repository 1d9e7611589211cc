"""The llm policy with a FakeLLMClient: batching, typed answers, re-asks and fallbacks, seeds, memory."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, Field

from agents.llm.policy import LLMPolicy
from sim.component import Params
from sim.institutions.base import Institution
from sim.llm.types import ChatRequest, derive_seed
from sim.model import SocietyModel
from sim.scenario import Scenario, scenario_from_dict
from tests.fake_llm import FakeLLMClient, commons_answer


def llm_commons(*groups: dict[str, Any], steps: int = 3, talk: int = 0, **extra: Any) -> Scenario:
    return scenario_from_dict(
        {
            "name": "llm_commons",
            "seed": 11,
            "steps": steps,
            "population": list(groups),
            "environment": {"kind": "commons"},
            "talk": {"rounds": talk},
            **extra,
        }
    )


def fishers(count: int = 3, name: str = "fishers", persona: str = "", **policy: Any) -> dict[str, Any]:
    return {"name": name, "count": count, "persona": persona, "policy": {"kind": "llm", **policy}}


def run(scenario: Scenario, client: FakeLLMClient, steps: int | None = None) -> SocietyModel:
    model = SocietyModel(scenario, llm=client)
    for _ in range(steps or scenario.steps):
        model.step()
    return model


def test_each_phase_is_one_batch_across_all_llm_groups():
    scenario = llm_commons(
        fishers(2, "calm"), fishers(3, "bold"), {"name": "rules", "count": 1, "policy": "sustainable"}, talk=2
    )
    client = FakeLLMClient()
    run(scenario, client, steps=2)
    # per step: two talk rounds and one act phase, each one batch of all five LLM agents
    assert [len(b) for b in client.sent] == [5] * 6
    assert [b[0].tag["phase"] for b in client.sent] == ["talk", "talk", "act"] * 2
    assert {r.tag["group"] for r in client.sent[0]} == {"calm", "bold"}


def test_requests_carry_the_action_schema_and_answers_are_typed():
    client = FakeLLMClient()
    model = run(llm_commons(fishers(3)), client, steps=1)
    request = client.sent[0][0]
    assert request.schema == model.act_schema(model.agent(1)).model_json_schema()
    assert request.schema["properties"]["fish"]["maximum"] == 100
    assert all(a.last_action.fish == 5 for a in model.active_agents())


class FakeReportInstitution(Institution):
    """An institution that adds a 'report' field to the act phase (what a norm with reporting does)."""

    def action_fields(self) -> dict[str, tuple[Any, Any]]:
        return {"report": (int, Field(-1, ge=-1, description="Agent id to report, or -1."))}

    def briefing(self) -> str:
        return "You may report one fisher who took too much."

    def observe(self, agent, observation) -> None:
        observation.public["reports_last_month"] = 0



def test_environment_and_institution_schemas_compose_into_one_typed_answer():
    def answer(request: ChatRequest) -> str:
        return json.dumps({"fish": 4, "report": 2})

    client = FakeLLMClient(answer)
    model = SocietyModel(llm_commons(fishers(3)), llm=client)
    model.institutions.append(FakeReportInstitution(model, Params()))
    model.step()
    request = client.sent[0][0]
    assert set(request.schema["properties"]) == {"fish", "report"}
    assert "You may report one fisher" in request.messages[0]["content"]
    assert '"reports_last_month":0' in request.messages[1]["content"]
    action = model.agent(1).last_action
    assert (action.fish, action.report) == (4, 2)


def test_invalid_replies_are_reasked_once_in_one_batch_then_fall_back_and_are_counted():
    def answer(request: ChatRequest) -> str:
        agent, attempt = request.tag["agent"], request.tag["attempt"]
        if agent == 1:
            return '{"fish": 3}'
        if agent == 2:  # invalid, then valid on the re-ask
            return '{"fish": 1000}' if attempt == 0 else '{"fish": 2}'
        return "not json at all"  # agents 3 and 4: invalid twice

    client = FakeLLMClient(answer)
    model = run(llm_commons(fishers(4)), client, steps=1)
    assert [len(b) for b in client.sent] == [4, 3]
    reasks = client.sent[1]
    assert [r.tag["agent"] for r in reasks] == [2, 3, 4]
    assert all(r.seed == derive_seed(11, 1, "act", "decision", r.tag["agent"], attempt=1) for r in reasks)
    assert "less than or equal to 100" in reasks[0].messages[1]["content"]
    assert reasks[0].messages[0] == client.sent[0][1].messages[0]
    assert [model.agent(i).last_action.fish for i in (1, 2, 3, 4)] == [3, 2, 0, 0]
    summary = LLMPolicy.summary(model)
    assert summary["llm_decisions"] == 4
    assert summary["llm_invalid_rate"] == pytest.approx(3 / 4)
    assert summary["llm_reasks"] == 3
    assert summary["llm_fallback_rate"] == pytest.approx(2 / 4)


def test_seeds_derive_from_run_step_phase_agent_and_talk_round():
    client = FakeLLMClient()
    run(llm_commons(fishers(2), talk=2), client, steps=1)
    talk0, talk1, act = client.sent
    assert [r.seed for r in act] == [derive_seed(11, 1, "act", "decision", i) for i in (1, 2)]
    assert [r.seed for r in talk0] == [derive_seed(11, 1, "talk", "decision", i) for i in (1, 2)]
    assert [r.seed for r in talk1] == [derive_seed(11, 1, "talk", "decision", i, round_=1) for i in (1, 2)]
    assert [r.tag["round"] for r in talk1] == [1, 1]


def test_group_sampling_overrides_the_llm_block():
    calm = {**fishers(1, "calm"), "sampling": {"temperature": 0.0}}
    scenario = llm_commons(calm, fishers(1, "bold"), llm={"temperature": 0.9, "max_tokens": 48})
    client = FakeLLMClient()
    run(scenario, client, steps=1)
    by_group = {r.tag["group"]: r.sampling for r in client.sent[0]}
    assert (by_group["calm"].temperature, by_group["calm"].max_tokens) == (0.0, 48)
    assert by_group["bold"].temperature == 0.9


def test_universalization_prompt_names_the_sustainable_share_in_the_act_phase_only():
    client = FakeLLMClient()
    run(llm_commons(fishers(5, universalization=True), talk=1), client, steps=1)
    talk, act = client.sent
    sentence = "if everyone fishes more than 10 tons, the lake population will shrink next month"
    assert all(sentence in r.messages[1]["content"] for r in act)
    assert not any(sentence in r.messages[1]["content"] for r in talk)


def test_talk_is_remembered_and_messages_reach_neighbours():
    client = FakeLLMClient()
    model = run(llm_commons(fishers(3), talk=1), client, steps=1)
    act = client.sent[1]
    assert "agent 2: agent 2: I will catch 5" in act[0].messages[1]["content"]
    kinds = [e.kind for e in model.agent(1).memory.entries]
    assert kinds == ["said", "heard", "heard", "outcome"]


def test_a_rule_based_greedy_newcomer_joins_a_population_of_llm_fishers():
    newcomer = {"name": "newcomer", "count": 1, "policy": "greedy", "join_step": 2}
    client = FakeLLMClient()
    model = run(llm_commons(fishers(3), newcomer, steps=2), client)
    assert [len(b) for b in client.sent] == [3, 3]
    assert model.agent(4).active
    assert model.environment.last_catches[4] > 5  # greedy took more than the LLM fishers' 5
    assert "You are one of 4 fishers" in client.sent[1][0].messages[0]["content"]


def test_memory_summaries_are_batched_and_replace_the_entries_they_cover():
    client = FakeLLMClient()
    model = run(llm_commons(fishers(3, summary_every=2), steps=3), client)
    purposes = [b[0].tag["purpose"] for b in client.sent]
    assert purposes == ["decision", "decision", "summary", "decision"]
    assert len(client.sent[2]) == 3
    memory = model.agent(1).memory
    assert memory.summary == "We each caught 5 tons."
    assert [e.step for e in memory.entries] == [3]
    assert "Summary of earlier steps: We each caught 5 tons." in client.sent[3][0].messages[1]["content"]
    assert LLMPolicy.summary(model)["llm_summaries"] == 3


def test_an_invalid_summary_keeps_the_memory_as_it_was():
    def answer(request: ChatRequest) -> str:
        return "{}" if request.tag["purpose"] == "summary" else commons_answer(request)

    client = FakeLLMClient(answer)
    model = run(llm_commons(fishers(2, summary_every=1), steps=2), client)
    memory = model.agent(1).memory
    assert memory.summary == ""
    assert [e.step for e in memory.entries] == [1, 2]
    assert model.asker.stats["summary"].fallbacks == 2


class Punish(BaseModel):
    punish: list[int] = Field(default_factory=list, description="Ids of the agents you punish.")


class FakeSanctionInstitution(FakeReportInstitution):
    """An institution with a decision phase of its own after the outcome (peer punishment)."""

    phase = "sanction"

    def action_fields(self) -> dict[str, tuple[Any, Any]]:
        return {}

    def phase_schema(self, agent) -> type[BaseModel]:
        return Punish

    def phase_fallback(self, agent) -> BaseModel:
        return Punish()

    def enforce(self, ctx) -> None:
        self.punished = ctx.phase_actions["sanction"]


def test_an_institution_phase_is_one_batch_with_its_own_instruction_and_schema():
    def answer(request: ChatRequest) -> str:
        return '{"punish": [2]}' if request.tag["phase"] == "sanction" else commons_answer(request)

    client = FakeLLMClient(answer)
    model = SocietyModel(llm_commons(fishers(3)), llm=client)
    institution = FakeSanctionInstitution(model, Params())
    model.institutions.append(institution)
    model.step()
    _, sanction = client.sent
    assert [r.tag["phase"] for r in sanction] == ["sanction"] * 3
    assert "It is the sanction phase of step 1." in sanction[0].messages[1]["content"]
    assert sanction[0].schema == Punish.model_json_schema()
    assert {i: a.punish for i, a in institution.punished.items()} == {1: [2], 2: [2], 3: [2]}
