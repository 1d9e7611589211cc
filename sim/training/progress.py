"""A training's progress bar: optimizer steps done of all, the latest loss, examples per second."""

from __future__ import annotations

import time
from typing import Any

from tqdm.auto import tqdm
from transformers import TrainerCallback


class TrainingBar(TrainerCallback):
    """A tqdm bar over a Trainer's optimizer steps (a resumed training starts at its checkpoint's step)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.started = 0.0
        self.first_step = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc=self.label, unit="step")
        self.started, self.first_step = time.perf_counter(), state.global_step

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if self.bar is None or not logs or "loss" not in logs:
            return
        examples = (state.global_step - self.first_step) * args.per_device_train_batch_size
        rate = examples / max(time.perf_counter() - self.started, 1e-9)
        self.bar.set_postfix({"loss": f"{logs['loss']:.4f}", "ex/s": f"{rate:.2f}"})

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.close()
