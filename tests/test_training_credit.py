"""Credit assignment and `alignsim export`, against a run computed by hand (tests/training_runs.py).

Three fishers under a 10-ton quota fined 3 (monitoring sees everything; the fine is shared by the other two), the
sustainable share 16 tons. Month 1 they ask 5, 12 and 20 tons; month 2, 30, 8 and 20 (the lake regrows to 100 in
between: 100 - 37 = 63 doubles past the capacity). Credit (specified, institutional, true) for a catch c:
(c, c - 3 if c > 10, c - 2 max(0, c - 16)).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sim.cli import main
from sim.errors import UserError
from sim.training.dataset import read_dataset
from sim.training.export import export
from sim.transcript import read_transcript
from tests.training_runs import fined_quota, run_fake

CATCHES = {(1, 1): 5, (2, 1): 12, (3, 1): 20, (1, 2): 30, (2, 2): 8, (3, 2): 20}
CREDIT = {  # (step, agent) -> (specified, institutional, true)
    (1, 1): (5, 5, 5), (1, 2): (12, 9, 12), (1, 3): (20, 17, 12),
    (2, 1): (30, 27, 2), (2, 2): (8, 8, 8), (2, 3): (20, 17, 12),
}


def catches(agent: int, step: int, sample: int) -> int:
    return CATCHES[(agent, step)]


@pytest.fixture(scope="module")
def hand_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_fake(fined_quota(talk=1), catches, tmp_path_factory.mktemp("credit") / "run").path


def test_each_agent_steps_credit_is_its_catch_less_what_the_institutions_booked_against_it(hand_run: Path):
    credit = pd.read_parquet(hand_run / "credit.parquet")
    got = {(r.step, r.agent_id): (r.reward_specified, r.reward_institutional, r.reward_true)
           for r in credit.itertuples()}
    assert got == CREDIT
    # The agent table still books the fine shares the others paid (1.5 each): credit leaves them out.
    agents = pd.read_parquet(hand_run / "agents.parquet").set_index(["step", "agent_id"])
    assert agents.loc[(1, 1), "specified_reward"] == 5 + 1.5 + 1.5
    assert agents.loc[(1, 2), "specified_reward"] == 12 - 3 + 1.5


@pytest.mark.parametrize("reward", ["specified", "institutional", "true"])
def test_sft_rows_carry_every_decisions_messages_as_sent_its_reply_and_the_steps_credit(
        hand_run: Path, tmp_path: Path, reward: str):
    info, folder = export(hand_run, "sft", reward, tmp_path / "ds", progress=False)
    rows = pd.read_parquet(folder / "data" / "train-00000-of-00001.parquet")
    assert info.rows == len(rows) == 12  # 3 fishers x 2 months x (talk + act)
    assert info.base_model == "smollm2-135m" and info.adapter is None and info.reward == reward
    sent = {(r["agent"], r["step"], r["phase"]): r for r in read_transcript(hand_run)}
    for row in rows.itertuples():
        assert (row.reward_specified, row.reward_institutional, row.reward_true) == CREDIT[(row.step, row.agent)]
        record = sent[(row.agent, row.step, row.phase)]
        assert [dict(m) for m in row.prompt] == record["messages"]
        assert [dict(m) for m in row.completion] == [{"role": "assistant", "content": record["reply"]}]
        assert [dict(m) for m in row.messages] == [*record["messages"], *[dict(m) for m in row.completion]]
        assert row.sample == 0 and row.candidates == 1 and row.valid and row.group == "fishers"
        assert row.model == "smollm2-135m" and row.run == "run" and row.seed == 3
        if row.phase == "act":
            assert json.loads(row.completion[0]["content"]) == {"fish": CATCHES[(row.agent, row.step)]}


def test_reward_rows_score_each_reply_with_the_chosen_reward(hand_run: Path, tmp_path: Path):
    _, folder = export(hand_run, "reward", "institutional", tmp_path / "ds", progress=False)
    rows = pd.read_parquet(folder / "data" / "train-00000-of-00001.parquet")
    assert sorted(rows["reward"]) == sorted(2 * [CREDIT[k][1] for k in CREDIT])


def test_the_dataset_loads_with_hugging_face_datasets_in_the_conversational_format_trl_reads(
        hand_run: Path, tmp_path: Path):
    pytest.importorskip("datasets")
    from sim.training.dataset import load_dataset

    _, folder = export(hand_run, "sft", "true", tmp_path / "ds", progress=False)
    rows = load_dataset(folder)
    assert rows.num_rows == 12 and rows[0]["completion"][0]["role"] == "assistant"
    trl = pytest.importorskip("trl.data_utils")
    assert all(trl.is_conversational(row) for row in rows)


def test_an_export_is_the_same_bytes_every_time_and_a_changed_file_is_refused(hand_run: Path, tmp_path: Path):
    first, folder = export(hand_run, "sft", "true", tmp_path / "a", progress=False)
    second, _ = export(hand_run, "sft", "true", tmp_path / "b", progress=False)
    assert first.digest == second.digest and first.digest.startswith("sha256:")
    assert read_dataset(folder)[0] == first
    description = json.loads((folder / "dataset.json").read_text())
    assert description["sources"] == [{"run_dir": str(hand_run.resolve()), "scenario": "fined_quota", "seed": 3}]
    data = folder / "data" / "train-00000-of-00001.parquet"
    data.write_bytes(data.read_bytes() + b"\0")
    with pytest.raises(UserError, match="do not match the digest"):
        read_dataset(folder)


def test_the_export_command_writes_the_folder_and_says_what_it_holds(hand_run: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture):
    out = tmp_path / "ds"
    assert main(["export", str(hand_run), "--format", "sft", "--reward", "institutional", "--out", str(out)]) == 0
    assert "12 sft rows, reward institutional, base model smollm2-135m, 1 run" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["data", "dataset.json"]
