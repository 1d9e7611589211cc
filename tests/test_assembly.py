"""The assembly: members propose and vote on amendments from a menu; sincere voting elects what theory says
(plurality: the most-proposed value; Borda and pairwise majority: here the median ideal, Black 1948); the
amendments go through sim.amendments and a run with an assembly replays exactly."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agents.scripted.assembly import by_distance
from sim.amendments import Amendment, load_amendments
from sim.errors import UserError
from sim.model import SocietyModel
from sim.runner import run, simulate
from sim.scenario import scenario_from_dict
from tests.fake_llm import FakeLLMClient

IDEALS = [0.0, 0.0, 2.0, 3.0, 3.0]  # five citizens' own weight on attribute 0; the spec says 1


def society(method: str = "plurality", every: int = 2, steps: int = 2, institutions: list | None = None,
            citizens: int = 5, citizen_policy: str = "sincere", **environment) -> dict:
    menu = [{"parameter": "specification.0", "options": [0, 1, 2, 3]}]
    return {
        "name": "assembly_test", "seed": 1, "steps": steps,
        "population": [{"name": "workers", "count": 2, "policy": "spec_optimiser"},
                       {"name": "citizens", "count": citizens, "policy": citizen_policy}],
        "environment": {"kind": "value_drift", "attributes": 2, "values": [1, 1], "citizens": ["citizens"],
                        **environment},
        "institutions": institutions if institutions is not None else [
            {"kind": "assembly", "every": every, "method": method, "members": ["citizens"], "menu": menu}],
    }


def model_with_ideals(method: str) -> SocietyModel:
    """A society whose five citizens want weight 0, 0, 2, 3, 3 on attribute 0 (and 1 on attribute 1)."""
    model = SocietyModel(scenario_from_dict(society(method)))
    environment = model.environment
    for agent_id, ideal in zip(sorted(environment.offsets), IDEALS, strict=True):
        environment.offsets[agent_id] = np.array([ideal - 1.0, 0.0])
    return model


def votes(model: SocietyModel) -> list[str]:
    return [e.detail for e in model.events if e.kind == "assembly_vote"]


@pytest.mark.parametrize(("method", "winner", "tally"), [
    # sincere ballots: each citizen names the candidate nearest its ideal; a tie (0 and 3) goes to the value in
    # force, then to the lowest: 0
    ("plurality", 0.0, "1: 0, 0: 2, 2: 1, 3: 2"),
    # rankings by distance over the candidates 1, 0, 2, 3 (3, 2, 1, 0 points): ideal 0 -> 0 1 2 3 (twice),
    # ideal 2 -> 2 1 3 0, ideal 3 -> 3 2 1 0 (twice): 0: 6, 1: 8, 2: 9, 3: 7; the median ideal wins
    ("borda", 2.0, "1: 8, 0: 6, 2: 9, 3: 7"),
])
def test_sincere_members_elect_what_the_tally_says(method: str, winner: float, tally: str):
    model = model_with_ideals(method)
    model.step()
    assert model.environment.specification()[0] == 1.0 and votes(model) == []  # no meeting at step 1
    model.step()
    (detail,) = votes(model)
    assert detail == f"environment.specification.0: {method}: {winner:g} wins ({tally})"
    assert model.environment.specification().tolist() == [winner, 1.0]
    (amendment,) = [e for e in model.events if e.kind == "amendment"]
    assert amendment.step == 3 and amendment.detail == f"assembly: environment.specification.0 1 -> {winner:g}"
    assert model.amendments.applied == []  # made by the run itself: a replay makes it again


def test_sincere_preferences_are_single_peaked_so_the_median_ideal_is_the_condorcet_winner():
    rng = np.random.default_rng(0)
    options = [str(v) for v in range(7)]
    for _ in range(200):
        ideals = rng.uniform(-0.5, 6.5, size=int(rng.choice([3, 5, 7, 9])))
        rankings = [by_distance(options, ideal) for ideal in ideals]
        proposals = {r[0] for r in rankings}  # what sincere members propose: the candidates

        def beats(a: str, b: str, rankings=rankings) -> bool:
            return sum(r.index(a) < r.index(b) for r in rankings) > len(rankings) / 2

        median = sorted(rankings, key=lambda r: float(r[0]))[len(rankings) // 2][0]
        assert median in proposals
        assert all(beats(median, other) for other in proposals - {median})


def test_a_unanimous_assembly_tracks_society_and_an_agreeing_one_changes_nothing():
    agreeing = simulate(scenario_from_dict(society(steps=6)), progress=False)
    assert not (agreeing.events["kind"] == "assembly_vote").any()  # everyone proposes the value in force
    assert agreeing.summary["assembly_meetings"] == 3 and agreeing.summary["alignment_gap"] == 0
    drifting = simulate(scenario_from_dict(society(steps=6, drift=[{"step": 2, "values": [2, 1]}])),
                        progress=False)
    assert drifting.model["spec_0"].tolist() == [1, 1, 2, 2, 2, 2]  # voted at step 2, in force from step 3
    assert drifting.model["value_misfit"].iloc[2:].abs().max() < 1e-12


def test_bad_assemblies_are_refused_when_the_scenario_loads_with_the_reason():
    menu = [{"parameter": "specification.0", "options": [0, 1]}]
    cases = [
        ({"kind": "assembly", "members": ["citizen"], "menu": menu},
         r"institutions\[0\]\.members: no population group named citizen"),
        ({"kind": "assembly", "menu": [{"parameter": "specification.5", "options": [0, 1]}]},
         r"menu\[0\]\.parameter: .*not an index of a list of 2"),
        ({"kind": "assembly", "menu": [{"parameter": "specification.0", "low": -1, "high": 1}]},
         r"menu\[0\]: -1 is not a valid environment\.specification\.0: .*weights must be >= 0"),
        ({"kind": "assembly", "menu": [{"parameter": "budget", "options": [0.05, 2]}]},
         "0.05 is not a valid environment.budget: .*below the budget"),
        ({"kind": "assembly", "menu": [{"parameter": "citizens", "options": [1, 2]}]},
         "is \\['citizens'\\], not a number"),
        ({"kind": "assembly", "menu": [{"parameter": "wealth", "options": [1, 2]}]},
         "'wealth' is not a parameter of 'environment'"),
        ({"kind": "assembly", "menu": [{"target": "tax", "parameter": "rate", "options": [1, 2]}]},
         "no institution 'tax' is listed"),
        ({"kind": "assembly", "menu": [{"parameter": "x", "low": 1}]}, "give either options or both low and high"),
        ({"kind": "assembly", "menu": menu + menu}, r"repeated: environment\.specification\.0"),
        ({"kind": "designer", "parameter": "budget"}, "a survey of society can rewrite specification, not 'budget'"),
    ]
    for institution, message in cases:
        with pytest.raises(UserError, match=message):
            scenario_from_dict(society(institutions=[institution]))
    commons = {"name": "c", "steps": 2, "population": [{"name": "g", "count": 2, "policy": "sustainable"}],
               "environment": {"kind": "commons"}, "institutions": [{"kind": "designer"}]}
    with pytest.raises(UserError, match="'designer' works with environment 'value_drift', not 'commons'"):
        scenario_from_dict(commons)


def test_an_assembly_amends_an_institution_listed_before_it_not_after():
    market = {
        "name": "m", "seed": 2, "steps": 2,
        "population": [{"name": "buyers", "count": 3, "policy": "truthful"},
                       {"name": "sellers", "count": 3, "policy": "truthful"}],
        "environment": {"kind": "market", "demand_intercept": 100, "demand_slope": 10, "supply_intercept": 10,
                        "supply_slope": 10, "damage": 25},
        "institutions": [{"kind": "tax", "rate": 0}, {"kind": "assembly", "every": 1, "menu": [
            {"target": "tax", "parameter": "rate", "options": [0, 25]}]}],
    }
    model = SocietyModel(scenario_from_dict(market))  # no preferences there: sincere members keep the rate
    model.step()
    assert model.institutions[0].params.rate == 0 and votes(model) == []
    market["institutions"].reverse()
    with pytest.raises(UserError, match="list 'tax' before 'assembly'"):
        scenario_from_dict(market)


def test_a_run_with_an_assembly_replays_exactly_with_a_users_amendment(tmp_path: Path):
    scenario = scenario_from_dict(society("borda", steps=8, value_spread=0.4, drift_sd=0.1,
                                          drift=[{"step": 3, "values": [2.5, 1]}]))
    user = [Amendment(step=5, who="user", target="assembly", set={"every": 1})]
    first = run(scenario, out=tmp_path / "r", progress=False, amendments=user)
    assert (first.events["detail"].str.startswith("assembly:")).any()
    saved = load_amendments(tmp_path / "r" / "amendments.yaml")
    assert [(a.who, a.target) for a in saved] == [("user", "assembly")]  # the assembly's own are not saved
    again = simulate(scenario, amendments=saved, progress=False)
    pd.testing.assert_frame_equal(first.model, again.model)
    pd.testing.assert_frame_equal(first.events, again.events)


def llm_citizen(request) -> str:
    """A scripted LLM citizen: proposes and votes for the highest value it may; works at nothing."""
    props = request.schema.get("properties", {}) if request.schema else {}
    reply = {}
    for name, spec in props.items():
        if "enum" in spec:
            reply[name] = spec["enum"][-1]
        elif spec.get("type") == "array":
            reply[name] = list(reversed(spec["items"]["enum"]))
    return json.dumps(reply)


@pytest.mark.parametrize("method", ["plurality", "borda"])
def test_llm_members_propose_and_vote_through_the_llm_route(method: str):
    llm = FakeLLMClient(llm_citizen)
    scenario = scenario_from_dict(society(method, citizen_policy="llm"))
    result = simulate(scenario, llm=llm, progress=False)
    phases = [{r.tag.get("phase") for r in batch} for batch in llm.sent]
    assert {"assembly_propose"} in phases and {"assembly_vote"} in phases
    vote_batch = next(b for b in llm.sent if {r.tag.get("phase") for r in b} == {"assembly_vote"})
    assert len(vote_batch) == 5  # one batch: every member's ballot at once
    assert "Assembly: after every 2 step(s)" in vote_batch[0].messages[0]["content"]
    assert result.events[result.events["kind"] == "assembly_vote"]["value"].tolist() == [3.0]


def test_the_menu_is_every_level_of_the_range_and_the_value_in_force():
    scenario = scenario_from_dict(society(institutions=[{"kind": "assembly", "menu": [
        {"parameter": "specification.1", "low": 0, "high": 2, "levels": 3}]}], specification=[1, 1.5]))
    model = SocietyModel(scenario)
    (assembly,) = model.institutions
    assert assembly.options(assembly.params.menu[0]) == ["0", "1", "1.5", "2"]
    assert list(itertools.chain(*[f.annotation.__args__ for f in assembly.phase_schema(None).model_fields.values()])
                ) == ["0", "1", "1.5", "2"]


@pytest.mark.llm
@pytest.mark.slow
def test_llm_citizens_sit_in_an_assembly_on_the_packaged_model(vllm_backend, tmp_path: Path):
    from sim.llm.client import LLMClient
    from sim.scenario import load_scenario
    from sim.transcript import read_transcript

    scenario = load_scenario(Path(__file__).resolve().parent.parent / "scenarios" / "value_drift.yaml",
                             ["steps=2", "institutions.0.every=1", "population.1.count=3", "output.plots=false"])
    result = run(scenario, out=tmp_path / "run", llm=LLMClient(vllm_backend, None, backend_name="vllm"),
                 progress=False)
    phases = {r.get("phase") for r in read_transcript(tmp_path / "run")}
    assert {"assembly_propose", "assembly_vote"} <= phases or (
        "assembly_propose" in phases and not (result.events["kind"] == "assembly_vote").any())
    assert result.summary["assembly_meetings"] == 2
    assert result.summary["llm_fallback_rate"] <= result.summary["llm_invalid_rate"] <= 1
    votes = result.events[result.events["kind"] == "assembly_vote"]
    menu = {f"{v / 2:g}" for v in range(7)} | {"1"}
    assert all(d.split(": ")[2].split(" ")[0] in menu for d in votes["detail"])  # every winner is on the menu
