"""What the social-norm institutions share: finding each other in the scenario's list, and who sees whom.

Norms, monitoring, classification, sanctions and reputation form a pipeline within the enforce phase of a
step: a rule is broken, the act is seen (or not), it is labelled wrongful (or not), it is punished, it is
remembered. Each stage reads the stage before it, so the scenario must list them in that order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from sim.institutions.base import Institution
    from sim.model import SocietyModel

T = TypeVar("T", bound="Institution")


def earlier(me: Institution, kind: type[T]) -> T | None:
    """The institution of class ``kind`` listed before ``me``, if any. Which stages must come before which is
    declared on the classes (``needs``, ``after``) and checked with the scenario (`sim.scenario_checks`)."""
    listed = me.model.institutions
    return next((i for i in listed[: listed.index(me)] if isinstance(i, kind)), None)


@runtime_checkable
class Perception(Protocol):
    """A stage that makes acts known (monitoring, classification, a competition authority, a leniency programme):
    what each observer saw of whom, the official record fines are levied on, and how many rules the record is
    expected to list against an act that breaks ``broken``. The stages after it read the last one listed."""

    def witnessed(self, observer: int) -> dict[int, list[str]]: ...

    def official(self) -> dict[int, list[str]]: ...

    def expected_labels(self, broken: list[str]) -> float: ...


def latest(me: Institution, kind: type[T]) -> T | None:
    """The last institution listed before ``me`` that is a ``kind`` (a class or a runtime-checkable protocol)."""
    listed = me.model.institutions
    return next((i for i in reversed(listed[: listed.index(me)]) if isinstance(i, kind)), None)


def peers(model: SocietyModel, agent_id: int) -> list[int]:
    """Who sees ``agent_id``'s acts and may sanction it: its group where the environment has groups (the public
    goods game), else its neighbours in the social network."""
    return peer_finder(model)(agent_id)


def grouped(model: SocietyModel) -> bool:
    """Whether the environment puts agents in groups (the public goods game), whose members are one another's peers."""
    return getattr(model.environment, "peers", None) is not None


def peer_finder(model: SocietyModel) -> Callable[[int], list[int]]:
    """`peers` for many agents in a row: where to look (the groups or the network) is found once."""
    return model.environment.peers if grouped(model) else lambda agent_id: model.agent(agent_id).neighbors
