"""The one YAML loader: hostile or broken files are refused with a located message, exit 2, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.cli import main
from sim.errors import UserError
from sim.scenario import load_scenario
from sim.yaml_loader import MAX_BYTES, MAX_DEPTH, load_yaml_file, parse_yaml

GOOD = """\
name: t
steps: 3
population:
  - name: fishers
    count: 5
    policy: sustainable
environment:
  kind: commons
"""


def write(tmp_path: Path, content: str | bytes, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def refusal(path: Path) -> str:
    with pytest.raises(UserError) as caught:
        load_scenario(path)
    return str(caught.value)


def alias_bomb(levels: int) -> str:
    """Each level repeats the one before nine times: 9**levels values from a file of a few hundred bytes."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return GOOD + "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_while_it_is_composed(tmp_path: Path) -> None:
    # 9**12 values: expanding it (the old loader's line index walked every alias) would never finish
    message = refusal(write(tmp_path, alias_bomb(12)))
    assert "holds more than 1,000,000 values once its aliases are expanded" in message
    assert message.startswith(f"{tmp_path / 's.yaml'}, line ")


def test_an_alias_into_itself_is_refused(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, GOOD + "loop: &a [1, *a]\n"))
    assert "line 9" in message and "refers to the collection that contains it" in message


def test_ordinary_anchors_and_merge_keys_still_work(tmp_path: Path) -> None:
    text = GOOD.replace("  - name: fishers\n    count: 5\n    policy: sustainable\n",
                        "  - &base {name: a, count: 2, policy: sustainable}\n  - <<: *base\n    name: b\n")
    scenario = load_scenario(write(tmp_path, text))
    assert [(g.name, g.count) for g in scenario.population] == [("a", 2), ("b", 2)]


def test_deep_nesting_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, "description: " + "[" * 5000 + "]" * 5000 + "\n"))
    assert f"line 1, column {MAX_DEPTH + 13}" in message and f"nested deeper than {MAX_DEPTH} levels" in message


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    message = refusal(write(tmp_path, GOOD + "steps: 30\n"))
    assert "line 9" in message and "key 'steps' appears twice" in message and "first on line 2" in message
    nested = GOOD.replace("  kind: commons\n", "  kind: commons\n  regrowth: 2\n  regrowth: 3\n")
    assert "key 'regrowth' appears twice" in refusal(write(tmp_path, nested))


def test_a_file_that_is_not_utf8_text_is_refused(tmp_path: Path) -> None:
    latin1 = refusal(write(tmp_path, (GOOD + "description: café\n").encode("latin-1")))
    assert "line 9: not UTF-8 text (byte 0xe9" in latin1
    assert "not a text file (control character U+0000)" in refusal(write(tmp_path, GOOD + "x: \x00\n"))
    assert "not UTF-8 text" in refusal(write(tmp_path, bytes(range(256)) * 4))
    assert "not a regular file" in refusal(tmp_path)


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    assert load_scenario(write(tmp_path, "\ufeff" + GOOD)).name == "t"


def test_a_file_too_large_is_refused_before_it_is_read_whole(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "description: " + "x" * MAX_BYTES + "\n")
    assert f"larger than {MAX_BYTES // 1024} KiB" in refusal(path)


def test_set_values_go_through_the_same_loader(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    with pytest.raises(UserError, match=r"--set description=.*nested deeper than"):
        load_scenario(path, ["description=" + "[" * 100 + "]" * 100])
    with pytest.raises(UserError, match=r"--set steps=\{a: 1, a: 2\}.*key 'a' appears twice"):
        load_scenario(path, ["steps={a: 1, a: 2}"])


def test_lines_of_an_aliased_subtree_point_at_the_definition(tmp_path: Path) -> None:
    data, lines = load_yaml_file(write(tmp_path, "a: &x {b: 1}\nc: *x\n"))
    assert data == {"a": {"b": 1}, "c": {"b": 1}}
    assert lines[("a", "b")] == 1 and lines[("c",)] == 2 and ("c", "b") not in lines


def test_empty_text_is_no_document() -> None:
    assert parse_yaml("", "x") == (None, {})


@pytest.mark.parametrize("content", [alias_bomb(12), "x: " + "[" * 999 + "]" * 999, GOOD + GOOD, b"\xff\xfe\x00"])
@pytest.mark.slow
def test_cli_validate_and_run_exit_2_without_traceback(
    tmp_path: Path, content: str | bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, content)
    for argv in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "run"), "-q"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"alignsim: error: {path}") and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]
