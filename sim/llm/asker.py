"""The asker: the one route from a simulation to its language model.

Every caller (an LLM agent's decision, a memory summary, a court's verdict, a planner's plan, and whatever comes
next) says what it wants as a `Question`: who asks, when, for what, the answer's pydantic schema, a prompt, a
fallback and sampling overrides. `Asker.ask` turns a batch of questions into answers:

1. sampling: the ``llm:`` block's defaults merged with the question's overrides (`LLMConfig.sampling`);
2. the prompt is fitted into the context window left after the reply's ``max_tokens`` (the prompt's own rule);
3. one `ChatRequest` per question, the only place a run builds requests: the schema as a structured output, a
   seed from `derive_seed` and a transcript tag in the one schema of `TAG_FIELDS`;
4. one `LLMClient.chat` call for the whole batch; each reply is validated against its schema;
5. invalid replies are re-asked once, all together in one more call, with a note naming the error;
6. what fails again takes the question's fallback (None where it declares none);
7. everything is counted per purpose (`AskStats`).

`Asker.sample(questions, k)` asks for ``k`` candidate answers to each question at once (sample ``i`` seeded with
the question's seed + ``i``), for best-of-n selection and the like. Nothing a model says can crash a run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from sim.llm.config import LLMConfig, SamplingOverrides
from sim.llm.prompts import ContextBudget, Prompt, schema_json
from sim.llm.types import SEED_SPAN, AdapterRef, ChatReply, ChatRequest, Sampling, derive_seed
from sim.schemas import json_schema_of

if TYPE_CHECKING:
    from sim.llm.client import LLMClient

REASK_NOTE = "Your answer was not valid ({error}). Answer again with only a JSON object that matches the schema."

# The transcript tag of every request: who asked (an agent id, or None for an institution), whom it concerns
# (e.g. the parties of a dispute; empty for the asker only), the group, when, why, and which try and sample.
TAG_FIELDS = ("agent", "about", "group", "step", "phase", "round", "attempt", "sample", "purpose")


@dataclass(frozen=True)
class Question:
    """One answer wanted from the LLM.

    ``agent`` is the agent who decides (None when an institution asks: a court, a planner); ``about`` the agents
    the question concerns. ``json_schema`` is what the LLM decodes against, where it is narrower than ``schema``'s
    own (whom this agent may punish; `sim.step.Decision.json_schema`). The seed derives from (run seed, step,
    phase, round, purpose, the agent, or else the first of ``about``, attempt). ``fallback`` is the answer when
    the reply is invalid twice (None: no answer); ``reask: False`` skips the second try. ``adapter`` names a
    registered LoRA adapter to answer with (the asking group's ``llm.adapter``); None: the model alone.
    """

    purpose: str
    step: int
    phase: str
    schema: type[BaseModel]
    prompt: Prompt
    json_schema: dict[str, Any] | None = None
    agent: int | None = None
    about: tuple[int, ...] = ()
    group: str | None = None
    round: int = 0
    fallback: BaseModel | None = None
    reask: bool = True
    sampling: tuple[SamplingOverrides | None, ...] = ()
    adapter: str | None = None

    @property
    def key(self) -> int | None:
        """Whose question this is, for its seed."""
        return self.agent if self.agent is not None else (self.about[0] if self.about else None)


@dataclass(frozen=True)
class Answer:
    """What came of one question: the validated answer (or the fallback) and how it was reached."""

    value: BaseModel | None
    reply: str
    invalid: bool = False
    reasked: bool = False
    fell_back: bool = False


@dataclass
class AskStats:
    """Counts of one purpose's questions: asked, whose first reply was invalid, re-asked, given the fallback."""

    asked: int = 0
    invalid: int = 0
    reasks: int = 0
    fallbacks: int = 0


def parse_reply(schema: type[BaseModel], text: str) -> tuple[BaseModel | None, str]:
    """(answer, "") for a valid reply, else (None, a short reason fit to show the model in a re-ask)."""
    try:
        return schema.model_validate_json(text), ""
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "reply"
        return None, f"{where}: {first.get('msg', 'invalid')}"[:80]


@dataclass
class _Pending:
    """A question on its way: its merged sampling and fitted chat, kept for a re-ask."""

    question: Question
    sampling: Sampling
    system: str
    user: str


@dataclass
class Asker:
    """Asks a run's questions of its LLM client; ``run_seed`` and ``config`` (the ``llm:`` block) are the run's."""

    client: LLMClient
    config: LLMConfig
    run_seed: int
    stats: dict[str, AskStats] = field(default_factory=lambda: defaultdict(AskStats))
    _adapters: dict[str, AdapterRef] = field(default_factory=dict, init=False, repr=False)

    def sampling(self, *overrides: SamplingOverrides | None) -> Sampling:
        """The ``llm:`` block's sampling with ``overrides`` applied in order (`LLMConfig.sampling`)."""
        return self.config.sampling(*overrides)

    def adapter(self, name: str | None) -> AdapterRef | None:
        """The registered adapter ``name`` for this run's model (looked up once per run), None for None."""
        if name is None:
            return None
        if name not in self._adapters:
            from sim.training.adapters import resolve_adapter

            self._adapters[name] = resolve_adapter(name, self.config.model).ref()
        return self._adapters[name]

    def budget(self, sampling: Sampling) -> ContextBudget:
        return ContextBudget(self.config.max_model_len, sampling.max_tokens)

    def ask(self, questions: Sequence[Question]) -> list[Answer]:
        """Answers in order: one batch of first replies, one batch of re-asks for the invalid, then fallbacks."""
        return [candidates[0] for candidates in self.sample(questions, 1)]

    def sample(self, questions: Sequence[Question], k: int) -> list[list[Answer]]:
        """``k`` candidate answers to each question, all in one batch (best-of-n, self-consistency, ...).

        Sample ``i`` of a question is the same chat as `ask` sends, seeded with the question's seed + ``i`` (so
        sample 0 is what `ask` would answer, and a rerun gives the same candidates), and tagged ``sample: i``.
        Each sample is validated, re-asked and falls back on its own, and counts as one question in ``stats``.
        Requests that differ only in their seed reach vLLM as one request with ``n`` samples (`LLMClient`).
        """
        return self.sample_each(questions, [k] * len(questions))

    def sample_each(self, questions: Sequence[Question], counts: Sequence[int]) -> list[list[Answer]]:
        """`sample` with a number of samples of its own for each question (``counts[i]`` of question i), all in
        one batch: a phase whose groups draw different numbers of candidates still sends one."""
        if any(k < 1 for k in counts):
            raise ValueError(f"k must be at least 1, not {min(counts)}")
        if any(k > SEED_SPAN for k in counts):
            raise ValueError(f"at most {SEED_SPAN} samples per question, not {max(counts)}")
        prepared = [self._prepare(q) for q in questions]
        items = [(p, i) for p, k in zip(prepared, counts, strict=True) for i in range(k)]
        answers = self._answer(items)
        ends = list(accumulate(counts))
        return [answers[end - k:end] for k, end in zip(counts, ends, strict=True)]

    def _answer(self, items: list[tuple[_Pending, int]]) -> list[Answer]:
        """One batch of (prepared question, sample index), then one batch of re-asks, then fallbacks."""
        if not items:
            return []
        replies = self.client.chat(self._requests(items))
        answers: list[Answer] = []
        errors: dict[int, str] = {}
        for i, ((p, _), reply) in enumerate(zip(items, replies, strict=True)):
            stats = self.stats[p.question.purpose]
            stats.asked += 1
            value, error = parse_reply(p.question.schema, reply.text)
            if value is None:
                stats.invalid += 1
                errors[i] = error
            answers.append(Answer(value, reply.text, invalid=value is None))
        again = [i for i in errors if items[i][0].question.reask]
        reasks = self._requests([items[i] for i in again], attempt=1, errors=[errors[i] for i in again])
        retried: dict[int, ChatReply] = dict(zip(again, self.client.chat(reasks) if reasks else [], strict=True))
        for i in errors:
            question = items[i][0].question
            stats = self.stats[question.purpose]
            value, text = None, answers[i].reply
            if i in retried:
                stats.reasks += 1
                text = retried[i].text
                value, _ = parse_reply(question.schema, text)
            if value is None:
                stats.fallbacks += 1
            answers[i] = Answer(
                value if value is not None else question.fallback, text, invalid=True, reasked=i in retried,
                fell_back=value is None,
            )
        return answers

    def _prepare(self, question: Question) -> _Pending:
        sampling = self.sampling(*question.sampling)
        system, user = question.prompt.fit(self.budget(sampling))
        return _Pending(question, sampling, system, user)

    def _requests(
        self, items: list[tuple[_Pending, int]], attempt: int = 0, errors: list[str] | None = None
    ) -> list[ChatRequest]:
        """The one place a run's chat requests are built.

        Identical requests of the batch (the k samples of a question; questions whose chats are the same bytes,
        such as verdicts on the same evidence) get consecutive seeds from the first one's: the seeds vLLM gives
        the children of one request with ``n`` samples, so `LLMClient` may send them as one, and every reply is
        the same either way.
        """
        requests = []
        first: dict[tuple, tuple[int, int]] = {}  # identical chat -> (its first seed, requests so far)
        texts: dict[int, str] = {}  # each schema's text, once per schema object (all alive for the batch)
        for index, (pending, _) in enumerate(items):
            q = pending.question
            note = REASK_NOTE.format(error=errors[index]) if errors else ""
            user = f"{pending.user}\n\n{note}" if note else pending.user
            schema = q.json_schema if q.json_schema is not None else json_schema_of(q.schema)
            if id(schema) not in texts:  # equal schemas built apart are one schema: their requests are identical
                texts[id(schema)] = schema_json(schema)
            same = (pending.system, user, texts[id(schema)], pending.sampling, q.adapter)
            if same in first and first[same][1] < SEED_SPAN:
                seed, count = first[same]
                first[same] = (seed, count + 1)
                seed += count
            else:  # the first of its kind (or the first after SEED_SPAN of them: a new run of seeds)
                seed = derive_seed(self.run_seed, q.step, q.phase, q.purpose, q.key, attempt, q.round)
                first[same] = (seed, 1)
            requests.append(ChatRequest(
                messages=({"role": "system", "content": pending.system}, {"role": "user", "content": user}),
                seed=seed, schema=schema, sampling=pending.sampling, tag=tag(q, attempt, items[index][1]),
                adapter=self.adapter(q.adapter),
            ))
        return requests


def tag(question: Question, attempt: int = 0, sample: int = 0) -> dict[str, Any]:
    """The transcript tag of a request (`TAG_FIELDS`, always all of them)."""
    return {
        "agent": question.agent,
        "about": list(question.about),
        "group": question.group,
        "step": question.step,
        "phase": question.phase,
        "round": question.round,
        "attempt": attempt,
        "sample": sample,
        "purpose": question.purpose,
    }
