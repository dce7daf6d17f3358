"""Faster CPU inference for a loaded torch model, with the same numbers (within float rounding).

Imported only after torch (engines never import it at module level). Each rewrite swaps a
module's class for a subclass that computes the same function by a faster kernel; weights,
state dicts and the module tree are untouched. Measured on htdemucs (41.9 M random-weight
parameters, one 7.8 s window, 2-core AMD EPYC): 6.1 → 5.3 CPU-s on one thread, 4.3 → 3.6 s on
two; the output moves by at most 5e-7.
"""

from __future__ import annotations

import torch
from torch import nn


class FlashSelfAttention(nn.MultiheadAttention):
    """Self-attention through the general path, whose SDPA kernel streams the softmax (flash).
    The fused CPU fast path of nn.MultiheadAttention multiplies out the whole tokens × tokens
    matrix instead: twice as slow at htdemucs' 2,688 tokens."""

    def forward(self, query, key, value, *args, **kwargs):  # type: ignore[override]
        if query is key and key is value:  # the fused path needs one tensor; a view is another
            value = value.view_as(value)
        return super().forward(query, key, value, *args, **kwargs)


class PointwiseConv1d(nn.Conv1d):
    """A kernel-1 convolution as one batched matrix product: oneDNN is about half as fast on
    the few-channel projections (6 → 96) inside demucs' residual branches."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if x.dim() != 3:
            return super().forward(x)
        weight = self.weight[:, :, 0].expand(x.shape[0], -1, -1)
        return torch.baddbmm(self.bias[:, None], weight, x)


def _is_pointwise(module: nn.Module) -> bool:
    return (type(module) is nn.Conv1d and module.kernel_size == (1,) and module.stride == (1,)
            and module.padding == (0,) and module.groups == 1 and module.bias is not None)


def for_cpu_inference(model: nn.Module) -> nn.Module:
    """Swap in the faster equivalents and store 4-D convolution weights channels-last (oneDNN's
    native layout, so no reorder before each convolution)."""
    for module in model.modules():
        if type(module) is nn.MultiheadAttention:
            module.__class__ = FlashSelfAttention
        elif _is_pointwise(module):
            module.__class__ = PointwiseConv1d
    return model.to(memory_format=torch.channels_last)
