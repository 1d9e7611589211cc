"""Prompts: a byte-identical shared prefix, template files and their overrides, and the context-window trimming."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.llm.prompts import ChatParts, fit_to_context
from agents.memory import MemoryEntry
from sim.errors import UserError
from sim.llm.prompts import CHAT_TEMPLATE_RESERVE, ContextBudget, PromptTemplates, estimate_tokens
from sim.model import SocietyModel
from sim.scenario import load_scenario
from tests.fake_llm import FakeLLMClient
from tests.test_llm_policy import fishers, llm_commons, run


def test_the_system_message_is_byte_identical_for_every_agent_of_a_group():
    client = FakeLLMClient()
    run(llm_commons(fishers(5, persona="You are a careful fisher."), talk=1), client, steps=2)
    for batch in client.sent:
        systems = {r.messages[0]["content"].encode() for r in batch}
        assert len(systems) == 1
    users = {r.messages[1]["content"] for r in client.sent[-1]}
    assert len(users) == 5  # the agent-specific part comes after the shared prefix


def test_groups_share_the_rules_and_differ_only_from_the_persona_on():
    client = FakeLLMClient()
    run(llm_commons(fishers(2, "calm", persona="Calm."), fishers(2, "bold", persona="Bold.")), client, steps=1)
    calm, bold = (r.messages[0]["content"] for r in (client.sent[0][0], client.sent[0][2]))
    rules = calm.removesuffix("Calm.")
    assert rules.startswith("You are one of 4 fishers") and bold == rules + "Bold."


def test_a_scenario_can_replace_a_template_with_its_own_file(tmp_path: Path):
    (tmp_path / "act.txt").write_text("Month $month: how many tons, fisher?")
    (tmp_path / "s.yaml").write_text(
        "name: s\nsteps: 1\nenvironment: {kind: commons}\n"
        "population: [{count: 2, policy: {kind: llm, templates: {act: act.txt}}}]\n"
    )
    client = FakeLLMClient()
    run(load_scenario(tmp_path / "s.yaml"), client)
    assert "Month 1: how many tons, fisher?" in client.sent[0][0].messages[1]["content"]


def test_a_missing_template_file_is_a_located_scenario_error(tmp_path: Path):
    (tmp_path / "s.yaml").write_text(
        "name: s\nsteps: 1\nenvironment: {kind: commons}\n"
        "population: [{count: 2, policy: {kind: llm, templates: {act: nowhere.txt}}}]\n"
    )
    where = r"line 4: population\[0\]\.policy\.templates\.act: file not found: nowhere\.txt"
    with pytest.raises(UserError, match=where):
        load_scenario(tmp_path / "s.yaml")


def test_an_unknown_placeholder_in_a_message_template_is_an_error_before_the_run(tmp_path: Path):
    (tmp_path / "user.txt").write_text("You are $agent_id. $memroy")
    with pytest.raises(UserError, match=r"user\.txt: unknown placeholder\(s\) \$memroy"):
        PromptTemplates.load("commons", {"user": str(tmp_path / "user.txt")})


def test_an_instruction_naming_a_missing_value_says_which_are_available(tmp_path: Path):
    (tmp_path / "act.txt").write_text("Weather: $weather")
    templates = PromptTemplates.load("commons", {"act": str(tmp_path / "act.txt")})
    with pytest.raises(UserError, match=r"\$weather has no value here; available: .*\$month"):
        templates.render("act", {"month": 1})


def parts(memory: int, messages: int, summary: str = "") -> ChatParts:
    return ChatParts(
        templates=PromptTemplates.load("commons"),
        system="Rules of the lake. " * 10,
        agent_id=3,
        summary=summary,
        memory=tuple(MemoryEntry(s, "outcome", f"step {s}: you chose fish={s} and earned {s}") for s in range(memory)),
        observation='{"public": {"stock": 100}}',
        messages=tuple(f"agent {i}: I will catch {i} tons, and so should you." for i in range(messages)),
        instruction="How many tons?",
        schema='{"properties":{"fish":{"type":"integer"}}}',
    )


def estimated(system: str, user: str) -> int:
    return estimate_tokens(system) + estimate_tokens(user)


def test_a_prompt_that_fits_is_left_whole():
    _, user = fit_to_context(parts(5, 3), ContextBudget(2048, 64))
    assert user.count("- [step") == 5 and user.count("- agent") == 3


def test_trimming_drops_the_oldest_memory_first_and_holds_the_limit():
    budget = ContextBudget(900, 64)
    system, user = fit_to_context(parts(200, 3), budget)
    assert estimated(system, user) <= budget.prompt_tokens
    assert "step 199: you chose" in user and "step 0: you chose" not in user
    assert user.count("- agent") == 3  # messages are kept while memory can still go


def test_trimming_then_drops_the_oldest_messages():
    budget = ContextBudget(900, 64)
    system, user = fit_to_context(parts(50, 40, summary="We agreed on 5 tons."), budget)
    assert estimated(system, user) <= budget.prompt_tokens
    assert "- [step" not in user
    assert "agent 39: I will catch" in user and "agent 0: I will catch" not in user
    assert "We agreed on 5 tons." in user


def test_trimming_cuts_the_summary_from_its_start_last():
    budget = ContextBudget(700, 64)
    summary = "old " * 100 + "newest words"
    system, user = fit_to_context(parts(5, 5, summary=summary), budget)
    assert estimated(system, user) <= budget.prompt_tokens
    assert "- [step" not in user and "- agent" not in user
    assert "Summary of earlier steps: ...old" in user and user.count("old ") < 100
    assert "newest words" in user


def test_a_context_too_small_for_the_rules_is_a_user_error():
    with pytest.raises(UserError, match=r"raise llm\.max_model_len"):
        fit_to_context(parts(0, 0), ContextBudget(300, 64))


def test_every_prompt_of_a_long_run_fits_a_small_context():
    scenario = llm_commons(fishers(5), steps=12, talk=2, llm={"max_model_len": 1400, "max_tokens": 64})
    client = FakeLLMClient()
    model = SocietyModel(scenario, llm=client)
    while model.running:
        model.step()
    limit = ContextBudget(1400, 64).prompt_tokens
    prompts = [r for batch in client.sent for r in batch]
    assert len(prompts) == 5 * 3 * 12
    assert max(estimated(r.messages[0]["content"], r.messages[1]["content"]) for r in prompts) <= limit
    assert len(model.agent(1).memory) > 0


def test_the_estimate_bounds_the_real_tokenizer_count():
    """The trimming estimate must never undercount SmolLM2's tokens (chat template included)."""
    transformers = pytest.importorskip("transformers")
    from sim.llm.models import is_prepared, model_dir

    if not is_prepared("smollm2-135m"):
        pytest.skip("smollm2-135m is not prepared (alignsim models prepare smollm2-135m)")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir("smollm2-135m")))
    client = FakeLLMClient()
    run(llm_commons(fishers(5, persona="You are Émile, a fisher; you love the lake ❤."), talk=1), client, steps=3)
    chats = [r.messages for batch in client.sent for r in batch]
    chats.append(({"role": "system", "content": "0123456789" * 50}, {"role": "user", "content": "{}[]\"',.;" * 40}))
    for messages in chats:
        text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        real = len(tokenizer.encode(text, add_special_tokens=False))
        bound = sum(estimate_tokens(m["content"]) for m in messages) + CHAT_TEMPLATE_RESERVE
        assert real <= bound


def test_the_shipped_commons_scenarios_validate():
    root = Path(__file__).resolve().parent.parent / "scenarios"
    files = sorted(root.glob("commons*.yaml"))
    assert any(f.name == "commons.yaml" for f in files)
    for path in files:
        assert load_scenario(path).environment.kind == "commons"
