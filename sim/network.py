"""The social network: who hears whom, who sees whose actions.

Stored to scale: the complete network is implicit (every agent is linked to every other, so nothing is stored;
networkx held 50 million edges at 10,000 agents), and every other topology is drawn with networkx, then kept as
compressed sparse rows (two numpy arrays, 8 bytes per link). Neighbours come in networkx's order, so runs repeat
exactly. Whole-population questions have linear answers (`neighbour_totals`) where asking agent by agent would
be quadratic in a complete network.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

import numpy as np

from sim.errors import UserError

if TYPE_CHECKING:
    import networkx as nx

    from sim.scenario import NetworkSpec


class Network:
    """Links among ``nodes`` (agent ids, in population order)."""

    def __init__(self, nodes: list[int]) -> None:
        self.nodes = list(nodes)

    def neighbors(self, node: int) -> list[int]:
        raise NotImplementedError

    def degree(self, node: int) -> int:
        raise NotImplementedError

    def number_of_edges(self) -> int:
        raise NotImplementedError

    def edges(self) -> Iterator[tuple[int, int]]:
        """Each link once, as (earlier node, later node) in population order."""
        position = {node: i for i, node in enumerate(self.nodes)}
        for node in self.nodes:
            for other in self.neighbors(node):
                if position[other] > position[node]:
                    yield node, other

    def neighbour_totals(self, values: Mapping[int, float]) -> dict[int, tuple[float, int]]:
        """For every node: the sum of its neighbours' ``values`` and how many of its neighbours have one
        (exact for integer values, which any order of summation gives alike)."""
        totals = {}
        for node in self.nodes:
            known = [values[n] for n in self.neighbors(node) if n in values]
            totals[node] = (sum(known), len(known))
        return totals

    def to_networkx(self) -> nx.Graph:
        """The network as a networkx graph, for analysis and drawing (builds every edge)."""
        import networkx as nx

        graph = nx.Graph()
        graph.add_nodes_from(self.nodes)
        graph.add_edges_from(self.edges())
        return graph


class CompleteNetwork(Network):
    """Everyone linked to everyone: implicit, nothing stored."""

    def neighbors(self, node: int) -> list[int]:
        return [n for n in self.nodes if n != node]

    def degree(self, node: int) -> int:
        return len(self.nodes) - 1

    def number_of_edges(self) -> int:
        n = len(self.nodes)
        return n * (n - 1) // 2

    def neighbour_totals(self, values: Mapping[int, float]) -> dict[int, tuple[float, int]]:
        """Everyone else's values: the total less one's own, in one pass."""
        total, count = sum(values.values()), len(values)
        return {
            node: (total - values[node], count - 1) if node in values else (total, count) for node in self.nodes
        }


class SparseNetwork(Network):
    """Any other topology, as compressed sparse rows: node i's neighbours are ``targets[start[i]:start[i + 1]]``."""

    def __init__(self, nodes: list[int], adjacency: Mapping[int, Iterable[int]]) -> None:
        super().__init__(nodes)
        rows = [list(adjacency[node]) for node in self.nodes]
        self.start = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=self.start[1:])
        self.targets = np.fromiter((n for r in rows for n in r), dtype=np.int64, count=int(self.start[-1]))
        self._position = {node: i for i, node in enumerate(self.nodes)}

    def neighbors(self, node: int) -> list[int]:
        i = self._position[node]
        return self.targets[self.start[i]:self.start[i + 1]].tolist()

    def degree(self, node: int) -> int:
        i = self._position[node]
        return int(self.start[i + 1] - self.start[i])

    def number_of_edges(self) -> int:
        return int(self.start[-1]) // 2


def build_network(spec: NetworkSpec, ids: list[int], rng: np.random.Generator) -> Network:
    """The network over ``ids`` (in order), drawn with a seed from ``rng`` so runs repeat."""
    n = len(ids)
    seed = int(rng.integers(2**31 - 1))  # drawn for every kind, so the model's random stream does not depend on it
    if spec.kind == "complete" or (spec.kind == "ring" and n <= 2):
        return CompleteNetwork(ids)
    import networkx as nx

    if spec.kind == "ring":
        graph = nx.watts_strogatz_graph(n, min(spec.k, n - 1), 0.0, seed=seed)
    elif spec.kind == "watts_strogatz":
        graph = nx.watts_strogatz_graph(n, min(spec.k, n - 1), spec.p, seed=seed)
    elif spec.kind == "barabasi_albert":
        if spec.m >= n:
            raise UserError(f"network.m = {spec.m} must be smaller than the number of agents ({n})")
        graph = nx.barabasi_albert_graph(n, spec.m, seed=seed)
    elif spec.kind == "erdos_renyi":
        graph = nx.gnp_random_graph(n, spec.p, seed=seed)
    else:
        graph = _read_edgelist(spec.path, ids)
        return SparseNetwork(ids, graph.adj)
    graph = nx.relabel_nodes(graph, dict(enumerate(ids)))
    return SparseNetwork(ids, graph.adj)


def edge_positions(path: str, count: int) -> Iterator[tuple[int, int]]:
    """The (i, j) of each 'i j' line of an edge-list file ('#' starts a comment): 0-based agent positions in
    population order, below ``count``. A `UserError` names the line of anything else."""
    try:
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                fields = line.split("#", 1)[0].split()
                if not fields:
                    continue
                if len(fields) < 2 or not all(f.isdigit() and int(f) < count for f in fields[:2]):
                    raise UserError(f"{path}, line {number}: expected two agent positions between 0 and "
                                    f"{count - 1} (the population has {count} agents), got '{line.strip()}'")
                yield int(fields[0]), int(fields[1])
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x})") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _read_edgelist(path: str | None, ids: list[int]) -> nx.Graph:
    """Edges 'i j' between 0-based agent positions (population order), one pair per line; '#' comments."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(ids)
    graph.add_edges_from((ids[i], ids[j]) for i, j in edge_positions(str(path), len(ids)))
    return graph
