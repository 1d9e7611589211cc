"""Q-learning pricing agents (Calvano, Calzolari, Denicolò & Pastorello 2020, Section II): the learner, and the
trainer that runs whole sessions of it to convergence.

A learner is one firm. It keeps Q(s, a) over states s (last period's grid choices: every firm's, or only its own)
and actions a (its grid index). Each period it explores with probability ε_t = exp(−β t), choosing uniformly at
random, and otherwise plays its greedy action argmax_a Q(s, a); having earned π and seen the new state s', it sets

    Q(s, a) ← (1 − α)·Q(s, a) + α·(π + δ·max_a' Q(s', a'))

Q starts at each action's discounted payoff against rivals who randomise uniformly (the paper's initialisation):
Q_0(s, a_i) = Σ_{a_-i} π_i(a_i, a_-i) / ((1 − δ)·m^(n−1)), the same in every state. A session has converged when
no learner's greedy strategy has changed for ``converge_after`` consecutive periods (the paper: 100,000).

One learner, two drivers. `QLearners` holds the tables and greedy strategies of any set of learners, and every
update and every choice goes through the same compiled kernels (`_update`, `_choose`). `train` runs sessions
against the stage game's payoff table inside one compiled loop: convergence takes about two million periods, and
a period through the engine (observations, phases, records) costs about 400 microseconds for a duopoly where the
loop costs about a tenth of one (benchmarks/qlearning.py). The `q_learning` policy (agents/baselines/q_learning.py)
trains its markets with `train` before a run, then plays them in the engine, where it calls `QLearners.learn` and
`QLearners.choose` once per step on the payoffs the run's institutions actually booked.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from numba import njit


@njit(cache=True)
def _choose(strategy: np.ndarray, learner: int, state: int, explore: float, draw: float, random_action: int) -> int:
    """ε-greedy: the random action if the draw falls below ``explore``, else the greedy one."""
    return random_action if draw < explore else strategy[learner, state]


@njit(cache=True)
def _update(q: np.ndarray, strategy: np.ndarray, learner: int, state: int, action: int, reward: float,
            next_state: int, alpha: float, delta: float) -> bool:
    """One Q-learning update; whether the learner's greedy action in ``state`` changed."""
    row = q[learner, next_state]
    best = row[0]
    for k in range(1, row.shape[0]):
        if row[k] > best:
            best = row[k]
    old = q[learner, state, action]
    q[learner, state, action] = old + alpha * (reward + delta * best - old)
    values = q[learner, state]
    greedy, top = 0, values[0]
    for k in range(1, values.shape[0]):
        if values[k] > top:
            greedy, top = k, values[k]
    if greedy != strategy[learner, state]:
        strategy[learner, state] = greedy
        return True
    return False


@njit(cache=True)
def _update_many(q, strategy, learners, states, actions, rewards, next_states, alpha, delta):
    """`_update` for each listed learner; whether each one's strategy changed."""
    changed = np.zeros(learners.shape[0], dtype=np.bool_)
    for k in range(learners.shape[0]):
        changed[k] = _update(q, strategy, learners[k], states[k], actions[k], rewards[k], next_states[k], alpha, delta)
    return changed


@njit(cache=True)
def _choose_many(strategy, learners, states, explore, draws, random_actions):
    """`_choose` for each listed learner, with its own exploration probability, draw and random action."""
    chosen = np.empty(learners.shape[0], dtype=np.int64)
    for k in range(learners.shape[0]):
        chosen[k] = _choose(strategy, learners[k], states[k], explore[k], draws[k], random_actions[k])
    return chosen


@njit(cache=True)
def _train(q, strategy, payoffs, state_of, points, first, profiles, periods, seeds, alpha, beta, delta,
           max_periods, converge_after):
    """Run each session (its learners first[k] .. first[k] + n − 1) until it converges or has played
    ``max_periods``; ``profiles`` and ``periods`` are updated in place. Returns whether each converged."""
    n = state_of.shape[0]
    converged = np.zeros(first.shape[0], dtype=np.bool_)
    actions = np.empty(n, dtype=np.int64)
    for k in range(first.shape[0]):
        np.random.seed(seeds[k])
        profile, t, stable = profiles[k], periods[k], 0
        explore, decay = math.exp(-beta * t), math.exp(-beta)
        while t < max_periods:
            nxt = 0
            for i in range(n):
                draw = np.random.random()
                random_action = np.random.randint(points)
                actions[i] = _choose(strategy, first[k] + i, state_of[i, profile], explore, draw, random_action)
                nxt = nxt * points + actions[i]
            changed = False
            for i in range(n):
                if _update(q, strategy, first[k] + i, state_of[i, profile], actions[i], payoffs[nxt, i],
                           state_of[i, nxt], alpha, delta):
                    changed = True
            stable = 0 if changed else stable + 1
            profile = nxt
            t += 1
            explore *= decay
            if stable >= converge_after:
                converged[k] = True
                break
        profiles[k], periods[k] = profile, t
    return converged


def state_table(firms: int, points: int, sees: str) -> np.ndarray:
    """``state_of[i, profile]``: the state firm i is in after ``profile`` (profiles numbered as
    `sim.theory.oligopoly.profiles` does): the profile itself when it sees every firm's choice (``all``), its own
    choice's index when it sees only its own (``own``)."""
    profiles = np.arange(points**firms)
    if sees == "all":
        return np.tile(profiles, (firms, 1))
    digits = [(profiles // points ** (firms - 1 - i)) % points for i in range(firms)]
    return np.stack(digits).astype(np.int64)


def initial_q(payoffs: np.ndarray, points: int, states: int, delta: float) -> np.ndarray:
    """Calvano et al.'s Q_0 for each firm position: shape (n, states, points)."""
    firms = payoffs.shape[1]
    by_profile = payoffs.reshape((points,) * firms + (firms,))
    q0 = np.empty((firms, points))
    for i in range(firms):
        others = tuple(j for j in range(firms) if j != i)
        q0[i] = by_profile[..., i].mean(axis=others) / (1 - delta)
    return np.repeat(q0[:, None, :], states, axis=1)


@dataclass
class QLearners:
    """The Q tables and greedy strategies of a set of learners: learner l's are ``q[l]`` (states × actions) and
    ``strategy[l]`` (its greedy action in each state, kept up to date by every update)."""

    q: np.ndarray
    strategy: np.ndarray
    alpha: float
    delta: float

    @classmethod
    def start(cls, q0: np.ndarray, positions: np.ndarray, alpha: float, delta: float) -> QLearners:
        """Learners whose tables start at ``q0[position]`` (`initial_q`, or zeros), one per entry of ``positions``."""
        q = np.ascontiguousarray(q0[positions], dtype=np.float64)
        return cls(q, q.argmax(axis=-1).astype(np.int64), alpha, delta)

    @property
    def points(self) -> int:
        return self.q.shape[-1]

    def learn(self, learners: np.ndarray, states: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
              next_states: np.ndarray) -> np.ndarray:
        """One update for each learner listed (the same learner at most once); whether each one's strategy
        changed."""
        return _update_many(self.q, self.strategy, *_ints(learners, states, actions), np.asarray(rewards, float),
                            _ints(next_states)[0], self.alpha, self.delta)

    def choose(self, learners: np.ndarray, states: np.ndarray, explore: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """Each learner's action in its state: random with its probability in ``explore`` (draws from ``rng``),
        else greedy."""
        learners, states = _ints(learners, states)
        draws = rng.random(len(learners))
        random_actions = rng.integers(self.points, size=len(learners))
        return _choose_many(self.strategy, learners, states, np.asarray(explore, dtype=np.float64), draws,
                            random_actions)


def _ints(*arrays: np.ndarray) -> list[np.ndarray]:
    return [np.ascontiguousarray(a, dtype=np.int64) for a in arrays]


@dataclass(frozen=True)
class Training:
    """What `train` did: per session the periods played, whether it converged and the last profile it reached;
    and the wall time it took."""

    periods: np.ndarray
    converged: np.ndarray
    profiles: np.ndarray
    seconds: float

    @property
    def periods_per_second(self) -> float:
        return float(self.periods.sum() / self.seconds) if self.seconds > 0 else float("nan")


def train(learners: QLearners, payoffs: np.ndarray, state_of: np.ndarray, first: np.ndarray, beta: float,
          rng: np.random.Generator, converge_after: int = 100_000, max_periods: int = 10_000_000,
          progress: object | None = None) -> Training:
    """Train sessions of ``n`` learners each (session k: learners first[k] .. first[k] + n − 1, firm i at
    first[k] + i) on the stage game ``payoffs`` (profile × firm: what each firm earns), from a random profile and
    ε = 1, until each converges or plays ``max_periods``. Seeds come from ``rng``, so a run's seed fixes the
    training. ``progress`` (a tqdm bar, optional) advances by one per session."""
    first = np.ascontiguousarray(first, dtype=np.int64)
    sessions, points = len(first), learners.points
    profiles = rng.integers(payoffs.shape[0], size=sessions).astype(np.int64)
    seeds = rng.integers(2**31 - 1, size=sessions).astype(np.int64)
    periods = np.zeros(sessions, dtype=np.int64)
    converged = np.zeros(sessions, dtype=bool)
    payoffs = np.ascontiguousarray(payoffs, dtype=np.float64)
    state_of = np.ascontiguousarray(state_of, dtype=np.int64)
    started = time.perf_counter()
    for k in range(sessions):  # one call per session: the progress bar moves, and each call is still long
        one = slice(k, k + 1)
        converged[one] = _train(learners.q, learners.strategy, payoffs, state_of, points, first[one], profiles[one],
                                periods[one], seeds[one], learners.alpha, beta, learners.delta, max_periods,
                                converge_after)
        if progress is not None:
            progress.update(1)
    return Training(periods, converged, profiles, time.perf_counter() - started)
