"""Prompts: a byte-identical shared prefix, template files and their overrides, and the context-window trimming."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest

from agents.llm.prompts import ChatParts, fit_to_context, state_json
from agents.memory import MemoryEntry
from sim.errors import UserError
from sim.llm.prompts import CHAT_TEMPLATE_RESERVE, ContextBudget, PromptTemplates, estimate_tokens
from sim.model import SocietyModel
from sim.scenario import load_scenario
from tests.fake_llm import FakeLLMClient
from tests.test_llm_policy import fishers, llm_commons, run

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def test_the_system_message_is_byte_identical_for_every_agent_of_a_group():
    client = FakeLLMClient()
    run(llm_commons(fishers(5, persona="You are a careful fisher."), talk=1), client, steps=2)
    for batch in client.sent:
        systems = {r.messages[0]["content"].encode() for r in batch}
        assert len(systems) == 1
    users = {r.messages[1]["content"] for r in client.sent[-1]}
    assert len(users) == 5  # the agent-specific part comes after the shared prefix


def own_start(user: str) -> int:
    return user.index("You are agent ")


def group_start(user: str) -> int:
    return user.find("What your group observes") if "What your group observes" in user else own_start(user)


def test_within_a_phase_everything_before_the_agents_own_part_is_byte_identical():
    client = FakeLLMClient()
    run(llm_commons(fishers(5), talk=1), client, steps=2)
    pg = FakeLLMClient(lambda r: '{"contribute": 5}' if "contribute" in r.schema["properties"] else "{}")
    run(load_scenario(SCENARIOS / "public_goods.yaml", ["steps=2"]), pg)
    for batch in [*client.sent, *pg.sent]:
        users = [r.messages[1]["content"] for r in batch]
        assert len({u[: group_start(u)] for u in users}) == 1, batch[0].tag
        assert [u[own_start(u):].split("\n")[0] for u in users] == [f"You are agent {r.tag['agent']}." for r in batch]
    act = client.sent[-1][0].messages[1]["content"]
    shared, own = act[: own_start(act)], act[own_start(act):]
    assert shared.startswith("It is month 2. The lake holds") and '"last_catches":{' in shared
    assert '"total_catch":5.0' in own and "What you remember:" in own


def test_the_members_of_a_group_share_their_groups_part_and_other_groups_differ_only_from_there():
    pg = FakeLLMClient(lambda r: '{"contribute": 5}' if "contribute" in r.schema["properties"] else "{}")
    model = run(load_scenario(SCENARIOS / "public_goods.yaml", ["steps=2"]), pg)
    groups = model.environment.groups
    punishment = pg.sent[-1]  # period 2's punishment stage: this period's and last period's contributions are in
    by_agent = {r.tag["agent"]: r.messages[1]["content"] for r in punishment}
    for group in groups:
        heads = {by_agent[a][: own_start(by_agent[a])] for a in group}
        assert len(heads) == 1  # one group part, byte-identical for its members
        part = next(iter(heads))[group_start(by_agent[group[0]]):]
        assert f'"group":{json.dumps(group, separators=(",", ":"))}' in part and '"group_contributions":{' in part
        assert '"last_group_contributions":{' in part
    own = by_agent[groups[0][0]][own_start(by_agent[groups[0][0]]):]
    assert "group_contributions" not in own and "received no messages" not in own  # no talk rounds here
    assert "may_punish" not in own  # without norms or monitoring: the rest of one's group, which its part lists
    assert '"total_income":' in own and "last_contribution" not in own  # that is in what its group gave
    assert "- step 1: you chose contribute=5 and earned" in own


def test_where_norms_judge_the_targets_each_member_is_told_whom_it_may_punish_and_for_what():
    pg = FakeLLMClient(lambda r: '{"contribute": 5}' if "contribute" in r.schema["properties"] else "{}")
    model = run(load_scenario(SCENARIOS / "norms.yaml", ["steps=1"]), pg)
    sanctions = next(i for i in model.institutions if i.kind == "sanctions")
    asked = [r for r in pg.sent[-1] if r.tag["phase"] == "sanction"]
    assert asked  # monitoring saw someone give 5 of 20 tokens, which breaks the rule
    for request in asked:
        user = request.messages[1]["content"]
        targets = sanctions.may_punish[request.tag["agent"]]
        assert f'"may_punish":{json.dumps({str(k): v for k, v in targets.items()}, separators=(",", ":"))}' in user


def test_prompt_numbers_are_written_as_a_person_would():
    state = {"total_income": 12.600000000000001, "b": (0.1 + 0.2, 2), "c": {"d": 1 / 3, "e": 1234567.89}}
    assert state_json(state) == '{"b":[0.3,2],"c":{"d":0.3333333333,"e":1234567.89},"total_income":12.6}'



def test_in_a_complete_network_the_steps_conversation_is_shared_elsewhere_each_agent_has_its_own_messages():
    complete = FakeLLMClient()
    run(llm_commons(fishers(3), talk=1), complete, steps=1)
    act = complete.sent[1][0].messages[1]["content"]
    conversation = "What was said to everyone this step:\n- agent 1: agent 1: I will catch 5\n- agent 2:"
    assert conversation in act[: own_start(act)] and "Messages you received" not in act
    ring = FakeLLMClient()
    run(llm_commons(fishers(4), talk=1, network={"kind": "ring", "k": 2}), ring, steps=1)
    act = ring.sent[1][0].messages[1]["content"]  # agent 1 hears its neighbours 2 and 4 only
    assert "said to everyone" not in act
    assert act[own_start(act):].count("- agent ") == 2 and "- agent 3:" not in act


def test_an_agents_memory_grows_by_appending_from_one_prompt_to_the_next():
    client = FakeLLMClient()
    run(llm_commons(fishers(2), steps=4), client)
    memories = [r.messages[1]["content"].split("What you remember:\n")[-1].split("\n\n")[0]
                for batch in client.sent[1:] for r in batch if r.tag["agent"] == 1]
    assert len(memories) == 3
    assert all(later.startswith(earlier) and later != earlier for earlier, later in pairwise(memories))


def test_the_shared_part_is_rendered_once_per_phase_not_once_per_agent(monkeypatch: pytest.MonkeyPatch):
    rendered: list[str] = []
    original = PromptTemplates.render

    def counting(self, name, values, tidy=False):
        rendered.append(name)
        return original(self, name, values, tidy)

    monkeypatch.setattr(PromptTemplates, "render", counting)
    client = FakeLLMClient()
    run(llm_commons(fishers(20), talk=1, llm={"max_model_len": 8192}), client, steps=2)
    assert len(client.sent) == 4 and rendered.count("shared") == 4 and rendered.count("system") == 4
    assert rendered.count("own") == 80


def test_the_answers_schema_is_enforced_not_written_unless_the_own_template_asks(tmp_path: Path):
    plain = FakeLLMClient()
    run(llm_commons(fishers(2)), plain, steps=1)
    request = plain.sent[0][0]
    assert request.schema["properties"]["fish"]["maximum"] == 100 and '"maximum"' not in request.messages[1]["content"]
    (tmp_path / "own.txt").write_text("You are agent $agent_id.\n\n$private\n\nSchema: $schema")
    shown = FakeLLMClient()
    run(llm_commons(fishers(2, templates={"own": str(tmp_path / "own.txt")})), shown, steps=1)
    assert shown.sent[0][0].messages[1]["content"].endswith('Schema: {"properties":{"fish":{"description"'
                                                           ':"Tons of fish to catch this month.","maximum":100,'
                                                           '"minimum":0,"title":"Fish","type":"integer"}},'
                                                           '"required":["fish"],"title":"Harvest","type":"object"}')


def test_the_agent_first_layout_is_kept_for_the_benchmarks_before_and_after():
    client = FakeLLMClient()
    run(llm_commons(fishers(2), talk=1, llm={"prompt_layout": "agent_first"}), client, steps=1)
    act = client.sent[1][0].messages[1]["content"]
    assert act.startswith("You are agent 1.\n\nYou remember") or act.startswith("You are agent 1.\n\nWhat you")
    assert '"you":1' in act and "Messages you received:\n- agent 2:" in act
    assert act.index("How many tons of fish") > act.index("Messages you received")


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


def test_a_shared_template_without_the_group_part_keeps_the_groups_view_in_the_agents_own_part(tmp_path: Path):
    (tmp_path / "shared.txt").write_text("$instruction\n\nWhat everyone observes now (JSON):\n$public\n")
    pg = FakeLLMClient(lambda r: '{"contribute": 5}' if "contribute" in r.schema["properties"] else "{}")
    model = run(load_scenario(SCENARIOS / "public_goods.yaml", [
        "steps=2", f"population.0.policy={{kind: llm, templates: {{shared: {tmp_path / 'shared.txt'}}}}}"]), pg)
    user = pg.sent[-1][0].messages[1]["content"]
    group = model.environment.group_of(pg.sent[-1][0].tag["agent"])
    assert "What your group observes" not in user
    own = user[own_start(user):]
    assert f'"group":{json.dumps(group, separators=(",", ":"))}' in own and '"group_contributions":{' in own


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
        memory=tuple(MemoryEntry(s, "outcome", f"you chose fish={s} and earned {s}") for s in range(memory)),
        messages=tuple(f"agent {i}: I will catch {i} tons, and so should you." for i in range(messages)),
        template="own",
        values={"private": '{"last_catch": 3}'},
        shared='How many tons?\n\nWhat everyone observes now (JSON):\n{"stock": 100}\n\n{"properties":{}}',
    )


def estimated(system: str, user: str) -> int:
    return estimate_tokens(system) + estimate_tokens(user)


def test_a_prompt_that_fits_is_left_whole():
    _, user = fit_to_context(parts(5, 3), ContextBudget(2048, 64))
    assert user.count("- step ") == 5 and user.count("- agent") == 3


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
    assert "- step " not in user
    assert "agent 39: I will catch" in user and "agent 0: I will catch" not in user
    assert "We agreed on 5 tons." in user


def test_trimming_cuts_the_summary_from_its_start_last():
    budget = ContextBudget(700, 64)
    summary = "old " * 100 + "newest words"
    system, user = fit_to_context(parts(5, 5, summary=summary), budget)
    assert estimated(system, user) <= budget.prompt_tokens
    assert "- step " not in user and "- agent" not in user
    assert "Summary of earlier steps: ..." in user and 0 < user.count("old") < 100
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
