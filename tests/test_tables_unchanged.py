"""Same scenario, same seed -> the same tables, bit for bit, as the digests recorded before the framework's
scale work (schemas built once, an implicit complete network, linear observe/enforce/record).

Each case runs a scenario in memory and compares a SHA-256 of every table (its CSV with exact float reprs, and
its column types) and of the summary with tests/data/table_digests_py3XX.json, one file per Python version:
Python 3.12's ``sum()`` of floats is compensated, so some sums differ from 3.11's in their last bits (990.0 for
989.9999999999998). The 3.11 digests were recorded before the scale work; the 3.12 ones after it, from code
that still matched the 3.11 digests. The cases cover every rule-based
scenario, larger populations, every network kind, stranger matching, newcomers, and LLM scenarios answered by
a scripted fake (talk rounds, punishment by LLM agents). After an intended change of results, record anew:
``python -m tests.test_tables_unchanged``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim.llm.types import ChatRequest
from sim.runner import RunResult, simulate
from sim.scenario import load_scenario
from tests.fake_llm import FakeLLMClient

DIGESTS = Path(__file__).parent / "data" / f"table_digests_py{sys.version_info[0]}{sys.version_info[1]}.json"
SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

PUBLIC_GOODS_40 = ["population.0.count=10", "population.1.count=20", "population.2.count=10", "steps=6"]
COMMONS_30 = ["population.0.count=20", "population.1.count=8", "population.2.policy=random", "population.2.count=2",
              "environment.capacity=600", "steps=8"]

CASES: dict[str, tuple[str, list[str], bool]] = {
    "commons_rules": ("commons_rules.yaml", [], False),
    "contracts_rules": ("contracts_rules.yaml", [], False),
    "contracts_relational": ("contracts_relational.yaml", [], False),
    "market_rules": ("market_rules.yaml", [], False),
    "market_vote_rules": ("market_vote_rules.yaml", [], False),
    "norms_rules": ("norms_rules.yaml", [], False),
    "proxy_task_rules": ("proxy_task_rules.yaml", [], False),
    "public_goods_rules": ("public_goods_rules.yaml", [], False),
    "silly_rules_rules": ("silly_rules_rules.yaml", [], False),
    "welfare_rules": ("welfare_rules.yaml", [], False),
    "public_goods_40_stranger": ("public_goods_rules.yaml", [*PUBLIC_GOODS_40, "environment.matching=stranger"], False),
    "public_goods_40_linear": ("public_goods_rules.yaml", [*PUBLIC_GOODS_40, "institutions.0.schedule=linear"], False),
    "norms_40_private_everyone": ("norms_rules.yaml", [*PUBLIC_GOODS_40, "institutions.1.observers=everyone",
                                                       "institutions.2.public=false", "institutions.4.window=2"],
                                  False),
    "commons_30_complete": ("commons_rules.yaml", COMMONS_30, False),
    "commons_30_ring": ("commons_rules.yaml", [*COMMONS_30, "network.kind=ring"], False),
    "commons_30_watts_strogatz": ("commons_rules.yaml", [*COMMONS_30, "network.kind=watts_strogatz", "network.p=0.3"],
                                  False),
    "commons_30_barabasi_albert": ("commons_rules.yaml", [*COMMONS_30, "network.kind=barabasi_albert"], False),
    "commons_30_erdos_renyi": ("commons_rules.yaml", [*COMMONS_30, "network.kind=erdos_renyi", "network.p=0.2"], False),
    "commons_llm_talk": ("commons.yaml", ["steps=3", "talk.rounds=2"], True),
    "commons_llm_newcomer_ring": ("commons_newcomer.yaml", ["steps=5", "population.1.join_step=2", "network.kind=ring",
                                                            "talk.rounds=1"], True),
    "public_goods_llm": ("public_goods.yaml", ["steps=3"], True),
    "norms_llm": ("norms.yaml", ["steps=3"], True),
}


def varied_answer(request: ChatRequest) -> str:
    """A fake player whose answers differ by agent: contributions, punishment points and yes/no rules vary."""
    agent = int(request.tag.get("agent", 0))
    reply: dict[str, object] = {}
    for name, spec in (request.schema or {}).get("properties", {}).items():
        if spec.get("type") == "integer":
            reply[name] = min(spec.get("maximum", 20), (agent * 7 + len(name)) % 13)
        elif spec.get("type") == "boolean":
            reply[name] = agent % 3 == 0
        else:
            reply[name] = f"agent {agent} was here" if agent % 2 else ""
    return json.dumps(reply)


def table_digest(table: pd.DataFrame) -> str:
    """SHA-256 of a table's column types and its CSV (Python's float repr is exact)."""
    types = ",".join(f"{name}:{dtype}" for name, dtype in table.dtypes.items())
    return hashlib.sha256((types + "\n" + table.to_csv(index=False)).encode()).hexdigest()


def digests(result: RunResult, llm: FakeLLMClient | None) -> dict[str, str]:
    summary = json.dumps({k: repr(v) for k, v in result.summary.items()}, sort_keys=True)
    found = {
        "model": table_digest(result.model),
        "agents": table_digest(result.agents),
        "events": table_digest(result.events),
        "summary": hashlib.sha256(summary.encode()).hexdigest(),
    }
    if llm is not None:  # the action schemas the LLM was asked to answer, in order
        schemas = json.dumps([r.schema for batch in llm.sent for r in batch], sort_keys=True)
        found["llm_schemas"] = hashlib.sha256(schemas.encode()).hexdigest()
    return found


def run_case(name: str) -> dict[str, str]:
    file, overrides, uses_llm = CASES[name]
    scenario = load_scenario(SCENARIOS / file, [*overrides, "output.plots=false"])
    llm = FakeLLMClient(varied_answer) if uses_llm else None
    return digests(simulate(scenario, llm=llm, progress=False), llm)


@pytest.mark.parametrize("name", sorted(CASES))
def test_tables_match_the_recorded_digests(name: str) -> None:
    if not DIGESTS.exists():
        pytest.skip(f"no digests recorded for this Python ({DIGESTS.name}): python -m tests.test_tables_unchanged")
    recorded = json.loads(DIGESTS.read_text(encoding="utf-8"))[name]
    assert run_case(name) == recorded


def record() -> None:
    """Write the digests of every case (after an intended change of results)."""
    DIGESTS.parent.mkdir(exist_ok=True)
    found = {name: run_case(name) for name in sorted(CASES)}
    DIGESTS.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {len(found)} digests to {DIGESTS}", file=sys.stderr)


if __name__ == "__main__":
    record()
