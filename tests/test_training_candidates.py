"""Candidates scored by counterfactual steps: against a hand-computed case in the commons with a fined quota, and
the real run untouched (tests/training_runs.py describes the case).

Fisher 2 draws four samples a month, 12, 10, 30 and 75 tons, and acts on the first; fishers 1 and 3 ask 5 and 20
whatever the sample. With the others held fixed each sample earns (specified, institutional, true):
12 -> (12, 12 - 3, 12); 10 -> (10, 10, 10); 30 -> (30, 30 - 3, 30 - 2 (30 - 16)) = (30, 27, 2);
75 -> (75, 72, 75 - 2 (75 - 16)) = (75, 72, -43): the 100 tons asked are exactly the stock, so no random allocation.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from sim.cli import main
from sim.errors import UserError
from sim.runner import run
from sim.scenario import load_scenario
from sim.training.export import export
from tests.fake_llm import FakeLLMClient
from tests.training_runs import fined_quota, run_fake, varied_answer

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SAMPLES = (12, 10, 30, 75)
SCORES = {12: (12, 9, 12), 10: (10, 10, 10), 30: (30, 27, 2), 75: (75, 72, -43)}
TABLES = ("model.parquet", "agents.parquet", "events.parquet")


def four_samples(agent: int, step: int, sample: int) -> int:
    return SAMPLES[sample] if agent == 2 else {1: 5, 3: 20}[agent]


def greedy_in_month_2(agent: int, step: int, sample: int) -> int:
    """Month 2: fisher 3 asks 90, so 107 tons are asked of 100 and the lake hands them out at random; fisher 2's
    samples ask more still."""
    if agent == 3:
        return 90 if step == 2 else 20
    return SAMPLES[sample] if agent == 2 else 5


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_fake(fined_quota(candidates=4), four_samples, tmp_path_factory.mktemp("candidates") / "run").path


def test_each_sample_earns_what_the_environment_and_institutions_give_it_with_the_others_held_fixed(scored: Path):
    table = pd.read_parquet(scored / "candidates.parquet")
    assert len(table) == 2 * 3 * 4  # two months, three fishers, four samples
    fisher_2 = table[table["agent_id"] == 2]
    for row in fisher_2.itertuples():
        assert row.action == f'{{"fish":{SAMPLES[row.sample]}}}' and row.valid
        assert (row.reward_specified, row.reward_institutional, row.reward_true) == SCORES[SAMPLES[row.sample]]
    others = table[table["agent_id"] != 2].groupby("agent_id")["reward_institutional"].agg(set)
    assert others.to_dict() == {1: {5.0}, 3: {17.0}}


def test_sample_0_earns_exactly_the_credit_the_run_booked(scored: Path):
    samples = pd.read_parquet(scored / "candidates.parquet")
    credit = pd.read_parquet(scored / "credit.parquet")
    first = samples[samples["sample"] == 0].merge(credit, on=["step", "agent_id"], suffixes=("", "_run"))
    assert len(first) == len(credit) == 6
    for reward in ("specified", "institutional", "true"):
        assert (first[f"reward_{reward}"] == first[f"reward_{reward}_run"]).all()


def digests(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in TABLES}


@pytest.mark.parametrize("probability", [1.0, 0.5])
def test_scoring_leaves_the_run_bit_for_bit_the_run_of_one_sample(tmp_path: Path, probability: float):
    """Random allocation (month 2 asks more than the stock) and random monitoring draw from the model's stream in
    the real step and in every counterfactual one: the real tables must not see the difference."""
    with_candidates = run_fake(fined_quota(3, 4, probability), greedy_in_month_2, tmp_path / "four")
    alone = run_fake(fined_quota(3, 1, probability), greedy_in_month_2, tmp_path / "one")
    assert digests(with_candidates.path) == digests(alone.path)
    assert (tmp_path / "four" / "candidates.parquet").is_file()
    assert not (tmp_path / "one" / "candidates.parquet").exists()
    assert with_candidates.events["kind"].value_counts().get("fine", 0) > 0


@pytest.mark.parametrize("name", ["commons", "public_goods", "norms", "market", "contracts"])
def test_every_environment_and_institution_resolves_counterfactuals_without_touching_the_run(tmp_path: Path,
                                                                                             name: str):
    """Peer punishment (public goods, norms), markets, contracts: tables as with one sample, sample 0 as booked."""
    groups = load_scenario(SCENARIOS / f"{name}.yaml").population
    def scenario(n: int):
        llm = [f"population.{i}.policy={{kind: llm, candidates: {n}}}" for i, g in enumerate(groups)
               if g.policy.kind == "llm"]
        return load_scenario(SCENARIOS / f"{name}.yaml", ["steps=3", "output.plots=false", *llm])

    runs = [run(scenario(n), out=tmp_path / str(n), llm=FakeLLMClient(varied_answer), progress=False)
            for n in (1, 3)]
    assert digests(runs[0].path) == digests(runs[1].path)
    samples = pd.read_parquet(runs[1].path / "candidates.parquet")
    credit = pd.read_parquet(runs[1].path / "credit.parquet")
    first = samples[samples["sample"] == 0].merge(credit, on=["step", "agent_id"], suffixes=("", "_run"))
    assert len(first) == len(samples) // 3 > 0
    for reward in ("specified", "institutional", "true"):
        assert (first[f"reward_{reward}"] - first[f"reward_{reward}_run"]).abs().max() < 1e-9
    assert samples["action"].nunique() > 1


def test_an_institution_that_asks_the_llm_while_enforcing_is_refused_by_name(tmp_path: Path):
    scenario = load_scenario(SCENARIOS / "value_drift.yaml", [
        "steps=2", "output.plots=false", "population.1.policy={kind: llm, candidates: 2}"])
    with pytest.raises(UserError, match="candidates cannot be scored under 'assembly'"):
        run(scenario, out=tmp_path / "run", llm=FakeLLMClient(varied_answer), progress=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("reward", "chosen", "rejected"), [
    ("specified", 75, 10), ("institutional", 75, 12), ("true", 12, 75)])
def test_preference_pairs_are_the_best_and_worst_sample_under_the_chosen_reward(
        scored: Path, tmp_path: Path, reward: str, chosen: int, rejected: int):
    """Under the specified and the institutional reward the 75-ton sample wins (a 3 fine is cheap): Goodhart in
    one decision; under the true utility it is the worst."""
    _, folder = export(scored, "preference", reward, tmp_path / "ds", progress=False)
    rows = pd.read_parquet(folder / "data" / "train-00000-of-00001.parquet")
    assert set(rows["agent"]) == {2}  # the others' samples are all alike: no pair
    for row in rows.itertuples():
        assert row.chosen[0]["content"] == f'{{"fish": {chosen}}}'
        assert row.rejected[0]["content"] == f'{{"fish": {rejected}}}'
        assert row.sample == SAMPLES.index(chosen) and row.rejected_sample == SAMPLES.index(rejected)
        assert row.reward_rejected == SCORES[rejected][("specified", "institutional", "true").index(reward)]


def test_sft_keeps_the_best_of_n_per_decision(scored: Path, tmp_path: Path):
    _, folder = export(scored, "sft", "true", tmp_path / "ds", progress=False)
    rows = pd.read_parquet(folder / "data" / "train-00000-of-00001.parquet")
    assert len(rows) == 6 and set(rows["candidates"]) == {4}
    assert {row.completion[0]["content"] for row in rows.itertuples() if row.agent == 2} == {'{"fish": 12}'}


def test_a_best_of_n_policy_refuses_candidates_it_would_not_act_on(capsys: pytest.CaptureFixture):
    assert main(["validate", str(SCENARIOS / "best_of_n.yaml"), "--set", "population.0.policy.candidates=3"]) == 2
    assert "set n, not candidates" in capsys.readouterr().err


@pytest.mark.llm
def test_the_packaged_model_on_the_real_engine_draws_scored_candidates_and_runs_as_with_one(vllm_backend,
                                                                                           tmp_path: Path):
    """Three fishers, one month: three samples each in one engine batch (vLLM requests with n = 3), scored; the
    tables are those of one sample per decision, and the export loads as a dataset."""
    from sim.llm.client import LLMClient

    runs = [run(fined_quota(steps=1, candidates=n), out=tmp_path / str(n), progress=False,
                llm=LLMClient(vllm_backend, cache=None, backend_name="vllm")) for n in (1, 3)]
    assert digests(runs[0].path) == digests(runs[1].path)
    samples = pd.read_parquet(runs[1].path / "candidates.parquet")
    credit = pd.read_parquet(runs[1].path / "credit.parquet")
    assert len(samples) == 9 and len(credit) == 3
    first = samples[samples["sample"] == 0].merge(credit, on=["step", "agent_id"], suffixes=("", "_run"))
    assert (first["reward_institutional"] == first["reward_institutional_run"]).all()
    _, folder = export(runs[1].path, "reward", "institutional", tmp_path / "ds", progress=False)
    rows = pd.read_parquet(folder / "data" / "train-00000-of-00001.parquet")
    assert len(rows) == 9 and list(rows["reward"]) == list(samples["reward_institutional"])
