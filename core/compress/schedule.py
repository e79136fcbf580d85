"""The polynomial-decay sparsity schedule (the one TF-MOT's `PolynomialDecay` uses).

    s(t) = s_final + (s_initial - s_final) * (1 - p) ** power,
    p = clip((t - begin) / (end - begin), 0, 1)

Masks are recomputed at `begin`, then every `frequency` steps until `end`, and
once more at `end`; from `end` on the sparsity is `s_final`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PolynomialDecay:
    """The sparsity schedule over training steps (see the module docstring for the formula).

    Sparsities are fractions of zero weights in [0, 1]; steps count optimizer steps (batches).
    """

    initial_sparsity: float
    final_sparsity: float
    begin_step: int
    end_step: int
    power: float = 3.0
    frequency: int = 1

    def sparsity(self, step: int) -> float:
        """The target sparsity at `step`: `initial_sparsity` before `begin_step`, `final_sparsity` from `end_step`."""
        if self.end_step <= self.begin_step:
            return self.final_sparsity if step >= self.begin_step else self.initial_sparsity
        if step < self.begin_step:
            return self.initial_sparsity
        p = min(1.0, (step - self.begin_step) / (self.end_step - self.begin_step))
        return self.final_sparsity + (self.initial_sparsity - self.final_sparsity) * (1.0 - p) ** self.power

    def should_update(self, step: int) -> bool:
        """True at the steps where the masks are recomputed: every `frequency` steps from begin to end, and at end."""
        if step < self.begin_step or step > self.end_step:
            return False
        return step == self.end_step or (step - self.begin_step) % max(1, self.frequency) == 0


def default_schedule(
    final_sparsity: float,
    total_steps: int,
    *,
    initial_sparsity: float = 0.0,
    begin_step: int = 0,
    end_step: int | None = None,
    frequency: int | None = None,
    power: float = 3.0,
) -> PolynomialDecay:
    """A schedule that ends the ramp at 70% of training (leaving steps to recover)."""
    if end_step is None:
        end_step = max(begin_step, int(round(0.7 * total_steps)))
    if frequency is None:
        frequency = max(1, (end_step - begin_step) // 10)
    return PolynomialDecay(initial_sparsity, final_sparsity, begin_step, end_step, power, frequency)
