"""Name -> class registries, so that a scenario's ``kind:`` picks an implementation.

A new environment, institution or policy is one new module in its package that registers its class
(``@ENVIRONMENTS.register("name")``); nothing else changes: each registry imports every module of its
packages the first time it is asked for a name. Lookups of unknown names raise a `UserError` that
suggests the closest known name.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from sim.errors import UserError

T = TypeVar("T", bound=type)


def closest(name: str, choices: list[str]) -> str:
    """' (did you mean X?)' for the nearest of ``choices``, or '' when nothing is close."""
    match = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


class Registry(Generic[T]):
    """A named table of the classes of one kind of component (e.g. 'environment'), found in ``packages``."""

    def __init__(self, what: str, packages: tuple[str, ...] = ()) -> None:
        self.what = what
        self.packages = packages
        self._items: dict[str, T] = {}
        self._discovered = False

    def register(self, name: str) -> Callable[[T], T]:
        """Class decorator: make ``name`` refer to the decorated class, which learns it as its ``kind``."""

        def add(cls: T) -> T:
            known = self._items.get(name)
            if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
                raise ValueError(f"{self.what} '{name}' is registered twice: {known.__module__}, {cls.__module__}")
            cls.kind = name
            self._items[name] = cls
            return cls

        return add

    def _discover(self) -> None:
        """Import every module of the registry's packages, so that each registers its classes."""
        if self._discovered:
            return
        self._discovered = True
        for package in self.packages:
            for module in pkgutil.iter_modules(importlib.import_module(package).__path__, f"{package}."):
                importlib.import_module(module.name)

    def get(self, name: str) -> T:
        """The class called ``name``; a UserError naming the known ones otherwise."""
        self._discover()
        if name not in self._items:
            known = ", ".join(sorted(self._items))
            raise UserError(f"unknown {self.what} '{name}'{closest(name, list(self._items))}; known: {known}")
        return self._items[name]

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
