"""`alignsim validate` refuses whatever `alignsim run` would refuse before the first step, with file and line.

Each cross-component error below surfaced only when the model was built (a message without a place, after the
run had started), or not at all; now the components declare what they need and the scenario check finds it.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from sim.cli import main
from sim.environments.base import ENVIRONMENTS
from sim.errors import UserError
from sim.institutions.base import INSTITUTIONS
from sim.model import SocietyModel
from sim.scenario import check_scenario, load_scenario, scenario_from_dict
from tests.fake_llm import FakeLLMClient, commons_answer

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))

PUBLIC_GOODS = """\
name: t
steps: 2
population:
  - {name: a, count: 4, policy: selfish}
environment:
  kind: public_goods
  group_size: 4
institutions:
"""
MARKET = """\
name: t
steps: 2
population:
  - {name: buyers, count: 3, policy: truthful}
  - {name: sellers, count: 3, policy: truthful}
environment:
  kind: market
institutions:
"""
COMMONS = """\
name: t
steps: 2
population:
  - {name: fishers, count: 4, policy: sustainable}
environment:
  kind: commons
institutions:
"""
NORM = "  - {kind: norms, rules: [{name: half, text: Give half., field: contribute, op: '>=', value: 10}]}\n"

# (scenario text, line, path, what the message says): each refused by validate and by run
REFUSED = {
    "institutions out of order": (
        PUBLIC_GOODS + "  - {kind: monitoring}\n" + NORM, 9, "institutions[0].kind",
        "'monitoring' reads 'norms': list 'norms' before 'monitoring'"),
    "a stage with nothing to read": (
        PUBLIC_GOODS + "  - {kind: classification}\n", 9, "institutions[0].kind",
        "'classification' needs a 'monitoring' institution listed before it"),
    "a stage read from the wrong side": (
        PUBLIC_GOODS + NORM + "  - {kind: sanctions}\n  - {kind: monitoring}\n", 10, "institutions[1].kind",
        "'sanctions' reads 'monitoring': list 'monitoring' before 'sanctions'"),
    "a vote with no tax to vote on": (
        MARKET + "  - {kind: voting, options: [0, 10]}\n", 9, "institutions[0].target",
        "'voting' chooses tax.rate, but no institution of kind 'tax' is listed"),
    "a vote listed before its tax": (
        MARKET + "  - {kind: voting, options: [0, 10]}\n  - {kind: tax}\n", 9, "institutions[0].target",
        "list 'tax' before 'voting'"),
    "an option the target refuses": (
        MARKET + "  - {kind: tax}\n  - kind: planner\n    options: [0, -5]\n", 11, "institutions[1].options[1]",
        "-5 is not a valid tax.rate: Input should be greater than or equal to 0"),
    "a setting the target lacks": (
        MARKET + "  - {kind: tax}\n  - kind: voting\n    setting: cap\n    options: [1, 2]\n", 11,
        "institutions[1].setting", "'cap' is not a parameter of 'tax' (it has: rate, rebate)"),
    "a norm on a field the environment lacks": (
        PUBLIC_GOODS + "  - kind: norms\n    rules:\n      - {name: r, text: Give 3., field: give, value: 3}\n",
        11, "institutions[0].rules[0].field", "'give' is not a field of environment 'public_goods' (contribute)"),
    "a compliance cost on the environment's own field": (
        PUBLIC_GOODS + NORM.replace("value: 10}", "value: 10, cost: 1}"), 9, "institutions[0].rules[0].cost",
        "cost is only for a rule with its own field"),
    "a fine with no norm": (
        PUBLIC_GOODS + "  - {kind: sanctions, fine: 2}\n", 9, "institutions[0].fine",
        "a fine is charged per broken rule: list a 'norms' institution before 'sanctions'"),
    "a market naming a missing group": (
        MARKET.replace("  kind: market\n", "  kind: market\n  harm_bearers: [residents]\n") + "  []\n", 8,
        "environment.harm_bearers", "no population group named residents (groups: buyers, sellers)"),
    "a court under the commons": (
        COMMONS + "  - {kind: court}\n", 8, "institutions[0].kind",
        "'court' works with environment 'principal_agent', not 'commons'"),
    "a tax outside a market": (
        COMMONS + "  - {kind: tax, rate: 2}\n", 8, "institutions[0].kind",
        "'tax' works with environment 'market', not 'commons'"),
    "a policy of another game": (
        COMMONS.replace("policy: sustainable", "policy: selfish") + "  []\n", 4, "population[0].policy",
        "policy 'selfish' is for environment 'public_goods', not 'commons'"),
    "groups that do not split": (
        PUBLIC_GOODS.replace("count: 4", "count: 6") + "  []\n", 7, "environment.group_size",
        "the population (6 agents, all present from step 1) must split into groups of 4"),
    "every group a principal": (
        "name: t\nsteps: 2\npopulation:\n  - {name: p, count: 2, policy: client}\nenvironment:\n"
        "  kind: principal_agent\n  principals: [p]\n", 7, "environment.principals",
        "every group is a principal; at least one must contract"),
    "more edges per node than agents": (
        COMMONS + "  []\nnetwork: {kind: barabasi_albert, m: 4}\n", 9, "network.m",
        "must be smaller than the number of agents (4), got 4"),
    "a replay with no cache": (
        COMMONS.replace("policy: sustainable", "policy: llm") + "  []\nllm: {backend: replay, cache: null}\n", 9,
        "llm.cache", "backend replay answers from the cache, but llm.cache is null"),
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_validate_and_run_refuse_alike_with_file_and_line(case: str, tmp_path: Path, capsys) -> None:
    text, line, field, says = REFUSED[case]
    path = write(tmp_path, text)
    assert main(["validate", str(path)]) == 2
    message = capsys.readouterr().err
    assert f"{path}, line {line}: {field}: " in message and says in message, message
    assert main(["run", str(path), "--out", str(tmp_path / "run"), "-q"]) == 2
    assert capsys.readouterr().err == message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_an_edge_list_naming_agents_that_do_not_exist(tmp_path: Path, capsys) -> None:
    (tmp_path / "edges.txt").write_text("0 1\n1 2\n# a comment\n2 9\n")
    path = write(tmp_path, COMMONS + "  []\nnetwork: {kind: edgelist, path: edges.txt}\n")
    assert main(["validate", str(path)]) == 2
    message = capsys.readouterr().err
    assert f"{path}, line 9: network.path: {tmp_path / 'edges.txt'}, line 4: expected two agent positions " \
           f"between 0 and 3 (the population has 4 agents), got '2 9'" in message
    (tmp_path / "edges.txt").write_bytes(b"0 1\n\xff\xfe\n")
    assert main(["validate", str(path)]) == 2
    assert "edges.txt: not UTF-8 text (byte 0xff)" in capsys.readouterr().err


def test_an_override_is_blamed_where_it_made_the_problem(tmp_path: Path) -> None:
    path = write(tmp_path, COMMONS + "  []\n")
    with pytest.raises(UserError) as caught:
        load_scenario(path, ["institutions=[{kind: ratings}]"])
    assert str(caught.value) == ("--set institutions=[{kind: ratings}]: institutions[0].kind: 'ratings' works with "
                                 "environment 'principal_agent', not 'commons'")


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, PUBLIC_GOODS.replace("count: 4", "count: 5") + "  - {kind: sanctions, fine: 1}\n"
                 "  - {kind: court}\n")
    with pytest.raises(UserError) as caught:
        load_scenario(path)
    lines = str(caught.value).splitlines()
    assert lines[0] == f"{path}: 3 problems in the scenario"
    assert [line.split(": ")[1] for line in lines[1:]] == [
        "environment.group_size", "institutions[0].fine", "institutions[1].kind"]


def test_warnings_are_printed_and_refuse_nothing(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, COMMONS.replace("count: 4, policy: sustainable}",
                                           "count: 4, policy: sustainable, join_step: 3}") + "  []\n")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr()
    assert "valid" in out.out
    assert out.err == (f"alignsim: warning: {path}, line 4: population[0].join_step: group 'fishers' joins at step 3, "
                       "after the last step (2): it never takes part\n")
    llm = write(tmp_path, COMMONS.replace("policy: sustainable", "policy: llm") + "  []\nllm: {backend: openai}\n")
    assert main(["validate", str(llm)]) == 0
    warning = capsys.readouterr().err
    assert "llm.backend: backend openai needs a server: set llm.base_url, or pass --server URL" in warning


def test_a_scenario_object_is_checked_like_a_file() -> None:
    """What changes a validated Scenario (a live amendment) checks the result with `check_scenario`."""
    scenario = load_scenario(ROOT / "scenarios" / "market_vote_rules.yaml")
    tax, voting = scenario.institutions
    amended = scenario.model_copy(update={"institutions": [voting, tax]})
    with pytest.raises(UserError, match=r"^<scenario>, line .*|^<scenario>: institutions\[0\]\.target: list 'tax' "):
        check_scenario(amended)
    assert check_scenario(scenario) is scenario


def test_an_llm_judge_makes_a_run_ask_the_llm_without_llm_agents() -> None:
    """A planner or court asking the LLM needs a client even when every agent is rule-based (it used to crash
    with a RuntimeError when the model was built, because no client was made)."""
    scenario = load_scenario(ROOT / "scenarios" / "welfare_rules.yaml")
    assert not scenario.uses_llm()
    assert load_scenario(ROOT / "scenarios" / "welfare_rules.yaml", ["institutions.1.decider=llm"]).uses_llm()
    contracts = load_scenario(ROOT / "scenarios" / "contracts_rules.yaml", ["institutions=[{kind: court, judge: llm}]"])
    assert contracts.uses_llm()


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_every_shipped_scenario_validates_and_builds(path: Path) -> None:
    scenario = load_scenario(path)
    SocietyModel(scenario, llm=FakeLLMClient(commons_answer))


# Parameters that make each institution valid on its own where its kind allows it.
INSTITUTION_PARAMS = {
    "assembly": {"menu": [{"parameter": "specification.0", "options": [0, 1]}]},  # accepted under value_drift
    "constitution": {"text": "Take no more than your share."},
    "norms": {"rules": [{"name": "r", "text": "Wear a hat.", "field": "hat"}]},
    "planner": {"options": [0, 5]},
    "quota": {"cap": 3},
    "voting": {"options": [0, 5]},
}


def _rule_scenarios() -> dict[str, dict]:
    """One rule-based scenario per environment, its institutions removed."""
    found: dict[str, dict] = {}
    for path in SCENARIOS:
        data = yaml.safe_load(path.read_text())
        if all(g["policy"] != "llm" for g in data["population"]):
            data.pop("sweep", None)
            found.setdefault(data["environment"]["kind"], {**data, "institutions": []})
    assert sorted(found) == ENVIRONMENTS.names()
    return found


def test_whatever_validates_builds() -> None:
    """Every environment with every institution, alone, in every ordered pair and in the social-norm pipeline: what
    the checks accept
    builds its model (no error is left to surface at run time); the checks accept some of each kind."""
    kinds = INSTITUTION_PARAMS | {k: {} for k in INSTITUTIONS.names() if k not in INSTITUTION_PARAMS}
    accepted = set()
    pipeline = [("norms", "monitoring", "classification", "sanctions", "reputation")]
    for base in _rule_scenarios().values():
        for combo in [(k,) for k in kinds] + list(itertools.permutations(kinds, 2)) + pipeline:
            data = {**base, "institutions": [{"kind": k, **kinds[k]} for k in combo]}
            try:
                scenario = scenario_from_dict(data)
            except UserError:
                continue
            SocietyModel(scenario, llm=FakeLLMClient(commons_answer))
            accepted.update(combo)
    assert accepted == set(kinds)
