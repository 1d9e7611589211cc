"""Classification: a public institution that labels acts as wrongful (Hadfield & Weingast, "What is Law?", 2012).

Rules are ambiguous: an agent judging an observed act on its own labels it differently from what the rule
says with probability ``ambiguity`` (a violation as fine, or a compliant act as a violation), independently of
every other judge. Decentralised punishment then scatters: some punish the innocent, some spare the guilty, and
the punishers disagree. With ``public: true`` a single public classifier labels each observed act once, wrong
with probability ``error``, and everyone acts on its label, so punishment is coordinated even where the label
is wrong. Hadfield & Weingast's claim is that this coordinating role, not accuracy alone, is what makes law.
"""

from __future__ import annotations

import pandas as pd
from pydantic import Field

from sim.component import Params
from sim.institutions.base import INSTITUTIONS, Institution
from sim.institutions.monitoring import Monitoring
from sim.institutions.social import earlier
from sim.step import StepContext


class ClassificationParams(Params):
    ambiguity: float = Field(0.3, ge=0, le=1, description="Probability that an agent judging on its own labels an "
                                                        "act differently from the rule.")
    public: bool = Field(True, description="A public classifier labels each observed act once, for everyone.")
    error: float = Field(0.0, ge=0, le=1, description="Probability that the public classifier's label is wrong.")


@INSTITUTIONS.register("classification")
class Classification(Institution):
    """Turns the observed acts into labels: one public label per act, or one private label per judge."""

    Params = ClassificationParams
    needs = ("monitoring",)

    def configure(self) -> None:
        self.monitoring = earlier(self, Monitoring)
        self.norms = self.monitoring.norms

    def setup(self) -> None:
        self.labels: dict[int, dict[int, list[str]]] = {}
        self.public_labels: dict[int, list[str]] = {}
        self.judged = 0
        self.mislabelled = 0
        self.contested = 0
        self.shared = 0

    def briefing(self) -> str:
        if self.params.public:
            return ("A public authority classifies every observed act as allowed or wrongful under the rules, and "
                    "announces its classification to all.")
        return "Nobody classifies acts publicly: each person judges for themselves whether an act broke a rule."

    def _label(self, actor: int, flip: float) -> list[str]:
        """One judge's reading of ``actor``'s act: each rule's true verdict, flipped with probability ``flip``."""
        broken = self.norms.violations[actor]
        label = []
        for rule in self.norms.params.rules:
            wrong = self.model.rng.random() < flip
            self.judged += 1
            self.mislabelled += wrong
            if (rule.name in broken) != wrong:
                label.append(rule.name)
        return label

    def enforce(self, ctx: StepContext) -> None:
        self.labels, self.public_labels = {}, {}
        for actor, witnesses in self.monitoring.seen.items():
            if self.params.public:
                label = self._label(actor, self.params.error)
                self.public_labels[actor] = label
                views = [label] * len(witnesses)
            else:
                self.public_labels[actor] = self._label(actor, self.params.ambiguity)
                views = [self._label(actor, self.params.ambiguity) for _ in witnesses]
            for witness, view in zip(witnesses, views, strict=True):
                self.labels.setdefault(witness, {})[actor] = view
            if len(views) > 1:
                self.shared += 1
                self.contested += any(v != views[0] for v in views)
            if self.public_labels[actor] != self.norms.violations[actor]:
                ctx.emit("misclassified", actor, None, None, ",".join(self.public_labels[actor]))

    # -- the perception the next stages read ---------------------------------------------------------
    def expected_labels(self, broken: list[str]) -> float:
        """How many rules the official label is expected to list against an act that breaks ``broken``: if the
        act is observed, each broken rule unless mislabelled, each kept rule if mislabelled."""
        flip = self.params.error if self.params.public else self.params.ambiguity
        kept = len(self.norms.params.rules) - len(broken)
        return self.monitoring.params.probability * (len(broken) * (1 - flip) + kept * flip)

    def witnessed(self, observer: int) -> dict[int, list[str]]:
        """The rules ``observer`` judges each act it saw to have broken."""
        return self.labels.get(observer, {})

    def official(self) -> dict[int, list[str]]:
        """The acts labelled wrongful for the record and for fines (the public label, or an official's own)."""
        return {actor: label for actor, label in self.public_labels.items() if label}

    def summary(self, model_table: pd.DataFrame, agent_table: pd.DataFrame) -> dict[str, float]:
        return {
            "misclassification_rate": self.mislabelled / self.judged if self.judged else float("nan"),
            "classification_disagreement": self.contested / self.shared if self.shared else float("nan"),
        }
