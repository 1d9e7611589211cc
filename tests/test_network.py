"""Social networks: the shapes scenario files ask for."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from sim.errors import UserError
from sim.network import CompleteNetwork, SparseNetwork, build_network
from sim.scenario import NetworkSpec

IDS = [11, 12, 13, 14, 15, 16]


def test_complete_and_ring_have_the_expected_degrees() -> None:
    rng = np.random.default_rng(0)
    complete = build_network(NetworkSpec(kind="complete"), IDS, rng)
    assert complete.nodes == IDS and all(complete.degree(n) == 5 for n in IDS)
    assert complete.number_of_edges() == 15 and complete.neighbors(13) == [11, 12, 14, 15, 16]
    ring = build_network(NetworkSpec(kind="ring", k=2), IDS, rng)
    assert all(ring.degree(n) == 2 for n in IDS) and ring.number_of_edges() == 6


def test_the_complete_network_stores_no_edges() -> None:
    network = build_network(NetworkSpec(kind="complete"), list(range(1, 100_001)), np.random.default_rng(0))
    assert isinstance(network, CompleteNetwork) and vars(network).keys() == {"nodes"}
    assert network.number_of_edges() == 100_000 * 99_999 // 2


@pytest.mark.parametrize("spec", [{"kind": "ring", "k": 4}, {"kind": "watts_strogatz", "k": 4, "p": 0.3},
                                  {"kind": "barabasi_albert", "m": 2}, {"kind": "erdos_renyi", "p": 0.3}])
def test_sparse_rows_keep_networkx_neighbours_in_networkx_order(spec: dict) -> None:
    """The same graph, and each node's neighbours in the order networkx gave them (runs repeat exactly)."""
    ids = list(range(1, 41))
    network = build_network(NetworkSpec.model_validate(spec), ids, np.random.default_rng(9))
    seed = int(np.random.default_rng(9).integers(2**31 - 1))
    make = {"ring": lambda: nx.watts_strogatz_graph(40, 4, 0.0, seed=seed),
            "watts_strogatz": lambda: nx.watts_strogatz_graph(40, 4, 0.3, seed=seed),
            "barabasi_albert": lambda: nx.barabasi_albert_graph(40, 2, seed=seed),
            "erdos_renyi": lambda: nx.gnp_random_graph(40, 0.3, seed=seed)}[spec["kind"]]
    expected = nx.relabel_nodes(make(), dict(enumerate(ids)))
    assert isinstance(network, SparseNetwork)
    assert all(network.neighbors(n) == list(expected.adj[n]) for n in ids)
    assert network.number_of_edges() == expected.number_of_edges()
    assert nx.utils.graphs_equal(network.to_networkx(), expected)


def test_neighbour_totals_of_the_implicit_complete_network_match_its_explicit_edges() -> None:
    complete = CompleteNetwork(IDS)
    explicit = SparseNetwork(IDS, {n: complete.neighbors(n) for n in IDS})
    values = {11: 3, 13: 5, 16: 0}
    assert complete.neighbour_totals(values) == explicit.neighbour_totals(values)
    assert complete.neighbour_totals(values)[13] == (3, 2) and complete.neighbour_totals({})[11] == (0, 0)


def test_random_graphs_repeat_with_the_seed() -> None:
    spec = NetworkSpec(kind="erdos_renyi", p=0.5)
    first = build_network(spec, IDS, np.random.default_rng(4))
    second = build_network(spec, IDS, np.random.default_rng(4))
    assert list(first.edges()) == list(second.edges())


def test_edgelist_file(tmp_path: Path) -> None:
    path = tmp_path / "edges.txt"
    path.write_text("# ring of three\n0 1\n1 2\n2 0\n")
    graph = build_network(NetworkSpec.model_validate({"kind": "edgelist", "path": str(path)}), IDS[:3],
                          np.random.default_rng(0))
    assert sorted(graph.edges()) == [(11, 12), (11, 13), (12, 13)]
    path.write_text("0 7\n")
    with pytest.raises(UserError, match="line 1"):
        build_network(NetworkSpec.model_validate({"kind": "edgelist", "path": str(path)}), IDS[:3],
                      np.random.default_rng(0))
