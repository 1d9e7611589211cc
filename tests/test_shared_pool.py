"""The session's pool of engines and servers (tests/conftest.py): one start per distinct settings, at most
``keep`` alive, the one used longest ago stopped first."""

from __future__ import annotations

import pytest

from tests.conftest import SharedPool


def test_same_settings_share_one_start_and_the_least_recently_used_is_stopped_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("tests.conftest.require_vllm", lambda: None)
    stopped: list[dict] = []
    pool = SharedPool(lambda **settings: dict(settings), stopped.append, keep=2)
    default = pool.get()
    assert pool.get() is default and pool.started == 1
    lora = pool.get(enable_lora=True, max_lora_rank=16)
    assert pool.get(max_lora_rank=16, enable_lora=True) is lora and pool.started == 2
    pool.get()  # the default is now the most recently used
    longer = pool.get(max_model_len=4096)
    assert stopped == [lora] and pool.started == 3
    assert pool.get(max_model_len=4096) is longer
    pool.close()
    assert stopped == [lora, longer, default]
