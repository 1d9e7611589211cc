"""A bounded record of what an agent did, received and suffered, newest last."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MemoryEntry:
    step: int
    kind: str
    text: str


class Memory:
    """The last ``capacity`` entries; older ones fall off (and may survive in a summary)."""

    def __init__(self, capacity: int = 20) -> None:
        self.entries: deque[MemoryEntry] = deque(maxlen=capacity)
        self.summary: str = ""

    def add(self, step: int, kind: str, text: str) -> None:
        self.entries.append(MemoryEntry(step, kind, text))

    def recent(self, n: int | None = None) -> list[MemoryEntry]:
        items = list(self.entries)
        return items if n is None else items[-n:] if n > 0 else []

    def __len__(self) -> int:
        return len(self.entries)
