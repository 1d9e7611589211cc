"""Name -> class registries, so that a scenario's ``kind:`` picks an implementation.

A new environment, institution, policy or network is one new module that registers itself; nothing
else changes. Lookups of unknown names raise a `UserError` that suggests the closest known name.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from sim.errors import UserError

T = TypeVar("T")


def closest(name: str, choices: list[str]) -> str:
    """' (did you mean X?)' for the nearest of ``choices``, or '' when nothing is close."""
    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


class Registry(Generic[T]):
    """A named table of implementations of one kind of thing (e.g. 'environment')."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator: make ``name`` refer to the decorated class."""

        def add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.what} '{name}' is registered twice")
            self._items[name] = item
            return item

        return add

    def get(self, name: str) -> T:
        """The implementation called ``name``; a UserError naming the known ones otherwise."""
        if name not in self._items:
            known = ", ".join(sorted(self._items))
            raise UserError(f"unknown {self.what} '{name}'{closest(name, list(self._items))}; known: {known}")
        return self._items[name]

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
