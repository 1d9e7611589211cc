"""The social network: who hears whom, who sees whose actions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx
import numpy as np

from sim.errors import UserError

if TYPE_CHECKING:
    from sim.scenario import NetworkSpec


def build_network(spec: NetworkSpec, ids: list[int], rng: np.random.Generator) -> nx.Graph:
    """A graph whose nodes are ``ids`` (in order), drawn with a seed from ``rng`` so runs repeat."""
    n = len(ids)
    seed = int(rng.integers(2**31 - 1))
    if spec.kind == "complete":
        graph = nx.complete_graph(n)
    elif spec.kind == "ring":
        graph = nx.watts_strogatz_graph(n, min(spec.k, n - 1), 0.0, seed=seed) if n > 2 else nx.complete_graph(n)
    elif spec.kind == "watts_strogatz":
        graph = nx.watts_strogatz_graph(n, min(spec.k, n - 1), spec.p, seed=seed)
    elif spec.kind == "barabasi_albert":
        if spec.m >= n:
            raise UserError(f"network.m = {spec.m} must be smaller than the number of agents ({n})")
        graph = nx.barabasi_albert_graph(n, spec.m, seed=seed)
    elif spec.kind == "erdos_renyi":
        graph = nx.gnp_random_graph(n, spec.p, seed=seed)
    else:
        return _read_edgelist(spec.path, ids)
    return nx.relabel_nodes(graph, dict(enumerate(ids)))


def _read_edgelist(path: str | None, ids: list[int]) -> nx.Graph:
    """Edges 'i j' between 0-based agent positions (population order), one pair per line; '#' comments."""
    graph = nx.Graph()
    graph.add_nodes_from(ids)
    with open(str(path), encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            try:
                i, j = (int(x) for x in fields[:2])
                graph.add_edge(ids[i], ids[j])
            except (ValueError, IndexError):
                raise UserError(
                    f"{path}, line {number}: expected two agent positions between 0 and {len(ids) - 1}, "
                    f"got '{line.strip()}'"
                ) from None
    return graph
