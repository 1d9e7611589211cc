"""How much memory a run needs, estimated from its scenario before anything is built, against what is free.

A population far too large for the machine used to be accepted and to run, with no progress, until it was
killed. `memory_problem` turns that into a refusal up front that names both numbers. The estimate is the scale
engineer's measured footprint of a run (`sim.footprint`: per agent, per agent-step, per institution) plus the
links of a stored network, 512 B each: the peak while networkx draws it, measured with tracemalloc at 10,000
agents as 350-450 B (the complete network is implicit and stores none). It covers the simulation; an
in-process vLLM engine needs its own memory on top.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from sim.footprint import scenario_peak_bytes

if TYPE_CHECKING:
    from sim.scenario import NetworkSpec, Scenario

BYTES_PER_LINK = 512


def expected_links(network: NetworkSpec, agents: int) -> float:
    """Links the network will store: none for the complete network (it is implicit), the expected number
    for the random ones, at most one per 4 bytes of an edge-list file."""
    match network.kind:
        case "ring" | "watts_strogatz":
            return agents * min(network.k, max(agents - 1, 0)) / 2
        case "barabasi_albert":
            return agents * network.m
        case "erdos_renyi":
            return network.p * agents * (agents - 1) / 2
        case "edgelist":
            return Path(network.path).stat().st_size / 4 if network.path else 0.0
    return 0.0


def estimate_bytes(scenario: Scenario) -> int:
    """A high estimate of the memory one run of ``scenario`` holds at its peak."""
    links = expected_links(scenario.network, scenario.agent_count())
    return int(scenario_peak_bytes(scenario) + links * BYTES_PER_LINK)


def available_bytes() -> int | None:
    """Memory this process can still use: the system's available memory, or less under a cgroup limit."""
    found = []
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    with contextlib.suppress(OSError, ValueError):
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            found.append(int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text()))
    if not found:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    return min(found) if found else None


def size(n: float) -> str:
    """Bytes for people: 3.2 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def memory_problem(runs: list[Scenario], at_once: int = 1) -> str | None:
    """Why ``runs`` (``at_once`` of them running together) would not fit in memory, or None if they fit."""
    free = available_bytes()
    if free is None or not runs:
        return None
    needs = sorted((estimate_bytes(s) for s in runs), reverse=True)[:max(at_once, 1)]
    if sum(needs) <= free:
        return None
    biggest = max(runs, key=estimate_bytes)
    links = expected_links(biggest.network, biggest.agent_count())
    what = f"{biggest.agent_count():,} agents for {biggest.steps:,} steps" + (
        f", {links:,.0f} network links" if links else "")
    together = f"for {len(needs)} runs at once " if len(needs) > 1 else ""
    return (f"about {size(sum(needs))} of memory is needed {together}({what}), but {size(free)} is available: run "
            f"fewer agents, fewer steps or a sparser network" + (", or fewer workers" if len(needs) > 1 else ""))
