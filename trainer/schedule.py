"""HNeRV's learning-rate schedule ``cosine_0.1_1_0.1``: linear warm-up, then cosine decay.

With ``t`` the fraction of training done (``(epoch + step / steps_per_epoch) / epochs``)::

    t <  warmup:  mult = min_mult + (1 - min_mult) * (t / warmup) ** power
    t >= warmup:  mult = 0.5 * (1 + cos(pi * (t - warmup) / (1 - warmup)))

and ``lr = base_lr * mult``. Defaults: warmup 0.1, power 1, min_mult 0.1 (official defaults; SNeRV-T's
official code warms up for 0.2, its family ``recipe``).
"""

from __future__ import annotations

import math


def lr_multiplier(t: float, warmup: float = 0.1, power: float = 1.0, min_mult: float = 0.1) -> float:
    if t < warmup:
        return min_mult + (1.0 - min_mult) * (t / warmup) ** power
    return 0.5 * (math.cos(math.pi * (t - warmup) / (1.0 - warmup)) + 1.0)
