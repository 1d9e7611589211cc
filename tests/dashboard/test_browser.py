"""The dashboard in a real headless Chromium: load, step, amend from the page, refuse bad values, save, replay
from the CLI, browse a run directory; one test with LLM agents on the real vLLM engine."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sim.amendments import load_amendments

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
STEP_TIMEOUT_MS = 60_000  # one rule-based step and its re-render, on 2 loaded cores


def expect(locator: object):
    """Playwright's retrying assertion, waiting up to a minute: a re-render takes seconds on 2 loaded cores."""
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=STEP_TIMEOUT_MS)
    return playwright_expect(locator)


def status(page: object) -> object:
    return page.locator(".alignsim-status")


def step(page: object, to: int, of: int) -> None:
    page.locator("button.alignsim-step").click()
    expect(status(page)).to_contain_text(f"step {to} of {of} ", timeout=STEP_TIMEOUT_MS)


def set_param(page: object, name: str, value: str) -> None:
    field = page.locator(f".alignsim-param-{name} input")
    field.fill(value)
    expect(field).to_have_value(value)


def click(page: object, name: str) -> None:
    page.locator(f"button.alignsim-{name}").click()


def test_page_steps_amends_the_tax_saves_and_the_cli_replays_it(page, dashboard, alignsim, tmp_path: Path) -> None:
    out = tmp_path / "run"
    shown = dashboard(str(SCENARIOS / "market_rules.yaml"), "--out", str(out))
    page.goto(shown.url)
    expect(status(page)).to_contain_text("step 0 of 10 ", timeout=120_000)
    for n in (1, 2, 3):
        step(page, n, 10)

    set_param(page, "rate", "25")  # the Pigouvian rate: trade falls from 5 units to the optimum, 4
    click(page, "amend")
    expect(page.locator(".alignsim-message-success")).to_contain_text("amended from step 4: tax.rate 0 -> 25")
    expect(page.locator(".alignsim-event-counts")).to_contain_text("amendment: 1")
    expect(page.locator(".alignsim-amendment")).to_have_text("step 4 · user: tax.rate 0 -> 25")

    click(page, "play")
    expect(status(page)).to_contain_text("step 10 of 10 ", timeout=10 * STEP_TIMEOUT_MS)
    expect(status(page)).to_contain_text("finished")
    expect(page.locator(".alignsim-saved")).to_contain_text(str(out), timeout=STEP_TIMEOUT_MS)  # saved at the end

    model = pd.read_parquet(out / "model.parquet")
    assert model["quantity"].tolist() == [5, 5, 5] + [4] * 7
    assert model["tax_rate"].tolist() == [0] * 3 + [25] * 7
    events = pd.read_parquet(out / "events.parquet")
    assert events[events["kind"] == "amendment"][["step", "detail"]].values.tolist() == [
        [4, "user: tax.rate 0 -> 25"]]
    amendments = load_amendments(out / "amendments.yaml")
    assert [(a.step, a.target, a.set, a.old) for a in amendments] == [(4, "tax", {"rate": 25}, {"rate": 0.0})]

    replay = tmp_path / "replay"
    done = alignsim("run", str(SCENARIOS / "market_rules.yaml"), "--amendments", str(out / "amendments.yaml"),
                    "--out", str(replay), "-q")
    assert done.returncode == 0, done.stderr
    for table in ("model", "agents", "events"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / f"{table}.parquet"),
                                      pd.read_parquet(replay / f"{table}.parquet"))


def test_bad_values_are_refused_with_a_message_and_nothing_applied(page, dashboard, tmp_path: Path) -> None:
    shown = dashboard(str(SCENARIOS / "norms_rules.yaml"), "--out", str(tmp_path / "run"))
    page.goto(shown.url)
    expect(status(page)).to_contain_text("step 0 of 10 ", timeout=120_000)
    step(page, 1, 10)

    set_param(page, "rules-0-value", "-1")
    set_param(page, "rules-0-field", "wear_a_hat")  # not the environment's field: a yes/no rule needs op ==
    click(page, "amend")
    expect(page.locator(".alignsim-message-error")).to_contain_text("amendment at step 2 (norms.rules.0.value = -1")
    expect(page.locator(".alignsim-message-error")).to_contain_text("needs op '==' or '!='")
    expect(page.locator(".alignsim-param-rules-0-field input")).to_have_value("contribute")  # the form is redrawn
    click(page, "remove")  # norms, which monitoring, classification and sanctions read
    expect(page.locator(".alignsim-message-error")).to_contain_text(
        "'monitoring' needs a 'norms' institution listed before it")
    page.locator(".alignsim-add-kind input").fill("monitoring")
    page.locator(".alignsim-add-params input").fill("{probability: 2}")
    expect(page.locator("button.alignsim-add")).to_be_enabled()
    click(page, "add")
    expect(page.locator(".alignsim-message-error")).to_contain_text("probability: Input should be less than or "
                                                                     "equal to 1")
    expect(page.locator(".alignsim-event-counts")).not_to_contain_text("amendment")
    expect(page.locator(".alignsim-amendment")).to_have_count(0)
    step(page, 2, 10)  # the run goes on under the rules it had


def test_a_run_directory_is_browsed_read_only(page, dashboard, alignsim, tmp_path: Path) -> None:
    amendments = tmp_path / "amendments.yaml"
    amendments.write_text("amendments:\n- {step: 3, target: tax, set: {rate: 25}}\n")
    folder = tmp_path / "run"
    done = alignsim("run", str(SCENARIOS / "market_rules.yaml"), "--amendments", str(amendments), "--out",
                    str(folder), "--set", "steps=5", "-q")
    assert done.returncode == 0, done.stderr
    shown = dashboard(str(folder))
    page.goto(shown.url)
    expect(status(page)).to_contain_text("step 5 of 5 ", timeout=120_000)
    expect(page.get_by_text("read-only run directory")).to_be_visible()
    expect(page.locator("button.alignsim-amend")).to_have_count(0)
    expect(page.locator("button.alignsim-play")).to_have_count(0)
    expect(page.locator(".alignsim-amendment")).to_have_count(0)  # the amendments panel is for live runs
    expect(page.locator(".alignsim-event-counts")).to_contain_text("amendment: 1")
    for n in range(4, 1, -1):
        click(page, "back")
        expect(status(page)).to_contain_text(f"step {n} of 5 ")
    expect(page.locator(".alignsim-event-counts")).to_have_text("none yet")  # the amendment came at step 3
    click(page, "step")
    expect(status(page)).to_contain_text("step 3 of 5 ")
    expect(page.locator(".alignsim-event-counts")).to_contain_text("amendment: 1")


@pytest.mark.llm
@pytest.mark.slow
def test_llm_agents_on_the_real_engine(page, dashboard, vllm_server: str, tmp_path: Path) -> None:
    """Five SmolLM2 fishers on the session's vLLM server, amended before their first month: the step runs in the
    worker, then the page shows each agent's exchange, and the saved run holds the transcript and the amendment."""
    out = tmp_path / "run"
    shown = dashboard(str(SCENARIOS / "commons.yaml"), "--server", vllm_server, "--set", "steps=1",
                      "--set", "talk.rounds=0", "--out", str(out))
    page.goto(shown.url)
    expect(status(page)).to_contain_text("step 0 of 1 ", timeout=120_000)
    set_param(page, "regrowth", "1.5")
    click(page, "amend")
    expect(page.locator(".alignsim-message-success")).to_contain_text("environment.regrowth 2 -> 1.5")
    click(page, "step")
    expect(status(page)).to_contain_text("step 1 of 1 ", timeout=600_000)
    expect(page.locator(".alignsim-transcript").first).to_contain_text("step 1 · agent")
    expect(page.locator(".alignsim-transcript").first).to_contain_text("--- reply")
    expect(page.locator(".alignsim-saved")).to_contain_text(str(out))
    records = [line for line in (out / "transcript.jsonl").read_text().splitlines() if line]
    assert len(records) >= 5  # one decision per fisher, at least
    assert load_amendments(out / "amendments.yaml")[0].set == {"regrowth": 1.5}
    events = pd.read_parquet(out / "events.parquet")
    assert events[events["kind"] == "amendment"]["detail"].tolist() == ["user: environment.regrowth 2 -> 1.5"]



def _listening(port: int) -> list[str]:
    """The local addresses of the sockets listening on ``port`` (from /proc/net: no traffic is sent)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        for line in path.read_text().splitlines()[1:] if path.exists() else []:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.append(address)
    return found


def test_it_listens_on_loopback_only_by_default(dashboard, alignsim) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp to read the listening sockets from")
    shown = dashboard(str(SCENARIOS / "market_rules.yaml"))
    assert _listening(shown.port) == ["0100007F"]  # 127.0.0.1, as /proc/net/tcp writes it
    assert "default 127.0.0.1" in alignsim("dashboard", "--help").stdout
