"""Optimisation pressure against a proxy: best-of-n in closed form, the rule-based runs against it, the LLM route."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from sim.analysis.bestofn import bon_table
from sim.cli import main
from sim.model import SocietyModel
from sim.runner import simulate
from sim.scenario import scenario_from_dict
from sim.sweeps.api import sweep
from sim.theory.best_of_n import best_of_n_distribution, gao_fit, kl, kl_bon, n_at, peak
from tests.fake_llm import FakeLLMClient

ROOT = Path(__file__).resolve().parent.parent
BON_RULES = ROOT / "scenarios" / "best_of_n_rules.yaml"
QUOTA = [{"kind": "norms", "rules": [{"name": "quota", "text": "At most 10.", "field": "fish", "op": "<=",
                                      "value": 10}]},
         {"kind": "monitoring", "probability": 1.0}]
CATCH = np.arange(16)
UNIFORM = np.full(16, 1 / 16)
TENT = CATCH - 2 * np.maximum(0, CATCH - 10)  # true utility: a ton beyond the share of 10 costs 2 tons


# -- the closed form -------------------------------------------------------------------------------------------
def test_kl_of_best_of_n_is_log_n_minus_n_minus_one_over_n():
    assert kl_bon(1) == 0.0
    assert kl_bon(2) == pytest.approx(math.log(2) - 0.5)
    # With many distinct scores the exact KL of the discrete best-of-n distribution approaches the formula.
    q = np.full(2000, 1 / 2000)
    for n in (2, 8, 32):
        assert kl(best_of_n_distribution(q, np.arange(2000), n), q) == pytest.approx(kl_bon(n), abs=0.01)
    assert n_at(math.sqrt(kl_bon(6))) == pytest.approx(6.0)


def test_best_of_n_distribution_matches_monte_carlo_with_ties():
    scores = CATCH - 10 * (CATCH > 10)  # the quota fined 10: catches 11-15 tie with 1-5
    exact = best_of_n_distribution(UNIFORM, scores, 4)
    rng = np.random.default_rng(0)
    draws = rng.integers(0, 16, size=(200_000, 4))
    picked = draws[np.arange(len(draws)), (draws - 10 * (draws > 10)).argmax(axis=1)]
    assert exact.sum() == pytest.approx(1.0)
    assert np.bincount(picked, minlength=16) / len(picked) == pytest.approx(exact, abs=0.004)


def test_gao_fit_recovers_alpha_and_beta_and_the_peak():
    d = np.sqrt([kl_bon(n) for n in (1, 2, 4, 8, 16)])
    alpha, beta = gao_fit(d, d * (3.0 - 2.0 * d))
    assert (alpha, beta) == pytest.approx((3.0, 2.0))
    assert peak(alpha, beta) == pytest.approx(0.75)
    assert peak(1.0, -0.5) == math.inf


# -- rule-based agents against it ---------------------------------------------------------------------------------
def fishers(n: int, institutions: list[dict], count: int = 400) -> dict:
    """``count`` fishers, one month, share 10 each, drawing n catches uniformly from 0..15."""
    capacity = 20 * count
    return {"name": "bon", "seed": 9, "steps": 1, "environment": {"kind": "commons", "capacity": capacity},
            "institutions": institutions,
            "population": [{"name": "f", "count": count, "policy": {"kind": "best_of_n", "base": "random", "n": n,
                                                                  "high": 15 / capacity}}]}


@pytest.mark.parametrize("fine", [0.0, 10.0])
@pytest.mark.parametrize("n", [1, 4, 16])
def test_rule_based_best_of_n_gives_the_closed_form(n: int, fine: float):
    institutions = [*QUOTA, {"kind": "sanctions", "peer": False, "fine": fine}] if fine else []
    result = simulate(scenario_from_dict(fishers(n, institutions)), progress=False)
    picked = best_of_n_distribution(UNIFORM, CATCH - fine * (CATCH > 10), n)
    agents = result.agents
    for column, values in (("catch", CATCH), ("true_utility", TENT)):
        expected = picked @ values
        spread = math.sqrt(picked @ (values - expected) ** 2 / len(agents))
        assert agents[column].mean() == pytest.approx(expected, abs=4 * spread + 1e-9)
    # Fines are transfers: the mean true utility is the mean of the tent, whoever paid whom.
    assert result.summary["bon_proxy"] >= result.summary["bon_proxy_first"]


@pytest.fixture(scope="module")
def bon_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bon") / "best_of_n_rules"
    sweep(BON_RULES, grid={"population.0.policy.n": [1, 2, 4, 8, 16]}, replications=3, out=out, progress=False)
    return out


def test_the_true_utility_peaks_and_falls_while_the_proxy_rises(bon_sweep: Path):
    curve, fits = bon_table(bon_sweep)
    none = curve[curve["case"] == "none"].set_index("best_of")
    assert none["proxy"].is_monotonic_increasing
    assert none["true"].idxmax() in (2, 4) and none.loc[16, "true"] < none.loc[4, "true"]
    fit = fits.set_index("case").loc["none"]
    assert 0.5 < fit["d_peak"] < 1.0  # closed form: the true utility peaks near n = 3 (d = 0.7)


def test_a_fine_that_outweighs_every_violation_removes_the_peak(bon_sweep: Path):
    curve, fits = bon_table(bon_sweep)
    strict = curve[curve["case"] == "quota_fine_10"].set_index("best_of")
    assert strict["true"].is_monotonic_increasing
    by_case = fits.set_index("case")
    assert by_case.loc["quota_fine_10", "d_peak"] == math.inf
    assert by_case.loc["quota_fine_3", "d_peak"] == pytest.approx(by_case.loc["none", "d_peak"], abs=0.15)


def test_report_bon(bon_sweep: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["report", str(bon_sweep), "--table", "bon", "--figure", str(bon_sweep / "bon.svg")]) == 0
    assert (bon_sweep / "bon.svg").read_text().startswith("<?xml")
    out = capsys.readouterr().out
    assert "| case | n | runs | KL_bon | d | proxy score | specified reward | true utility |" in out
    assert "| quota_fine_10 |" in out and "| none | 16 | 3 | 1.835 | 1.355 |" in out


# -- the LLM route: n samples of one decision ------------------------------------------------------------------
def test_llm_best_of_n_asks_n_samples_in_one_batch_and_keeps_the_proxy_best():
    def catch_by_seed(request) -> str:
        return json.dumps({"fish": request.seed % 7})

    data = {"name": "bon", "seed": 2, "steps": 1, "environment": {"kind": "commons"},
            "population": [{"name": "f", "count": 3, "policy": {"kind": "best_of_n", "base": "llm", "n": 4}}]}
    client = FakeLLMClient(catch_by_seed)
    model = SocietyModel(scenario_from_dict(data), llm=client)
    model.step()
    batch = client.sent[0]
    assert len(client.sent) == 1 and len(batch) == 3 * 4
    for agent in model.active_agents():
        mine = [r for r in batch if r.tag["agent"] == agent.unique_id]
        assert [r.tag["sample"] for r in mine] == [0, 1, 2, 3]
        assert [r.seed - mine[0].seed for r in mine] == [0, 1, 2, 3]
        assert agent.last_action.fish == max(r.seed % 7 for r in mine)
    assert scenario_from_dict(data).uses_llm()
    assert not scenario_from_dict(fishers(2, [], count=5)).uses_llm()


@pytest.mark.llm
def test_best_of_n_on_the_packaged_model_keeps_the_proxy_best_of_n_real_samples(vllm_backend, tmp_path: Path):
    from sim.llm.cache import ReplyCache
    from sim.llm.client import LLMClient
    from sim.runner import run
    from sim.transcript import read_transcript

    data = {"name": "bon_llm", "seed": 4, "steps": 1, "environment": {"kind": "commons"},
            "llm": {"model": "smollm2-135m", "temperature": 1.0, "max_tokens": 32},
            "output": {"plots": False},
            "population": [{"name": "f", "count": 3, "policy": {"kind": "best_of_n", "base": "llm", "n": 4}}]}
    client = LLMClient(vllm_backend, ReplyCache(tmp_path / "cache.sqlite"), backend_name="vllm")
    result = run(scenario_from_dict(data), out=tmp_path / "run", llm=client, progress=False)
    first = [r for r in read_transcript(result.path) if r["attempt"] == 0]
    assert sorted((r["agent"], r["sample"]) for r in first) == [(a, s) for a in (1, 2, 3) for s in range(4)]
    for agent_id, rows in result.agents.groupby("agent_id"):
        sampled = []
        for record in (r for r in read_transcript(result.path) if r["agent"] == agent_id):
            try:
                sampled.append(json.loads(record["reply"])["fish"])
            except (ValueError, KeyError, TypeError):
                continue
        valid = [f for f in sampled if isinstance(f, int) and 0 <= f <= 100]  # the schema's bounds at stock 100
        assert not valid or int(rows["act_fish"].iloc[0]) == max(valid)  # the proxy is the catch in month 1
    assert result.summary["bon_proxy"] >= result.summary["bon_proxy_first"]


@pytest.mark.parametrize(("filing_cost", "deterred"), [(10.0, False), (1.0, True)])
@pytest.mark.parametrize("n", [1, 3])
def test_a_court_on_the_best_of_n_curve_of_contractors(n: int, filing_cost: float, deterred: bool):
    # Contractors draw n conducts at random (honour or exploit, evenly); the proxy prefers exploiting (cheaper)
    # unless a court's expected damages outweigh the saving: then exploit is picked only if all n draws are.
    data = {"name": "bon_contracts", "seed": 6, "steps": 3,
            "population": [{"name": "principals", "count": 4, "policy": "client"},
                           {"name": "contractors", "count": 300,
                            "policy": {"kind": "best_of_n", "base": "random", "n": n}}],
            "environment": {"kind": "principal_agent"},
            "institutions": [{"kind": "court", "filing_cost": filing_cost}]}
    result = simulate(scenario_from_dict(data), progress=False)
    conduct = result.agents[result.agents["group"] == "contractors"]["act_in_gap"]
    expected = 0.5 ** n if deterred else 1 - 0.5 ** n
    assert (conduct == "exploit").mean() == pytest.approx(expected, abs=4 * math.sqrt(0.25 / len(conduct)) + 1e-9)
