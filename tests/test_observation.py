"""`Observation`: ``local`` and ``messages`` left out are made empty when first read, each observation its own."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from sim.step import Observation


def test_omitted_parts_are_empty_and_the_observations_own() -> None:
    first, second = Observation(1, 2), Observation(2, 2)
    first.messages.append("agent 2: hello")
    first.local["group"] = [1, 2]
    assert second.messages == [] and second.local == {}
    assert first == Observation(1, 2, {}, {"group": [1, 2]}, {}, ["agent 2: hello"])
    assert dataclasses.replace(second, step=3) == Observation(2, 3, {}, {}, {}, [])
    assert pickle.loads(pickle.dumps(first)) == first
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = first.nothing
