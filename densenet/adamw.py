"""``AdamW``: Adam with decoupled weight decay."""

from __future__ import annotations

from numpy.typing import ArrayLike

from .adam import Adam


class AdamW(Adam):
    r"""Adam with decoupled weight decay, with PyTorch's update rule.

    Args:
        lr, betas, eps, amsgrad, decay_mask, lr_scale: as ``Adam``.
        weight_decay: ``wd`` >= 0 (default 0.01): each step first shrinks the
            parameters, ``params = params (1 - lr wd)``, then takes Adam's step
            on the plain gradient.

    Example:
        >>> import numpy as np
        >>> params, grads = np.array([1.0, -1.0]), np.array([0.0, 0.0])
        >>> AdamW(lr=0.1, weight_decay=0.5).step(params, grads)
        >>> params
        array([ 0.95, -0.95])
    """

    decoupled_weight_decay = True

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 decay_mask: ArrayLike | None = None, lr_scale: ArrayLike | None = None) -> None:
        super().__init__(lr, betas, eps, weight_decay, amsgrad, decay_mask=decay_mask, lr_scale=lr_scale)
