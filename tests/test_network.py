"""Social networks: the shapes scenario files ask for."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.errors import UserError
from sim.network import build_network
from sim.scenario import NetworkSpec

IDS = [11, 12, 13, 14, 15, 16]


def test_complete_and_ring_have_the_expected_degrees() -> None:
    rng = np.random.default_rng(0)
    complete = build_network(NetworkSpec(kind="complete"), IDS, rng)
    assert sorted(complete.nodes) == IDS and all(d == 5 for _, d in complete.degree)
    ring = build_network(NetworkSpec(kind="ring", k=2), IDS, rng)
    assert all(d == 2 for _, d in ring.degree)


def test_random_graphs_repeat_with_the_seed() -> None:
    spec = NetworkSpec(kind="erdos_renyi", p=0.5)
    first = build_network(spec, IDS, np.random.default_rng(4))
    second = build_network(spec, IDS, np.random.default_rng(4))
    assert sorted(first.edges) == sorted(second.edges)


def test_edgelist_file(tmp_path: Path) -> None:
    path = tmp_path / "edges.txt"
    path.write_text("# ring of three\n0 1\n1 2\n2 0\n")
    graph = build_network(NetworkSpec.model_validate({"kind": "edgelist", "path": str(path)}), IDS[:3],
                          np.random.default_rng(0))
    assert sorted(graph.edges) == [(11, 12), (11, 13), (12, 13)]
    path.write_text("0 7\n")
    with pytest.raises(UserError, match="line 1"):
        build_network(NetworkSpec.model_validate({"kind": "edgelist", "path": str(path)}), IDS[:3],
                      np.random.default_rng(0))
