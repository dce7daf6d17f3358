"""The CPU rewrites compute the same function as the modules they replace."""

from __future__ import annotations

import copy
from fractions import Fraction

import pytest
from model_fixtures import tiny_htdemucs_kwargs

torch = pytest.importorskip("torch")
from torch import nn

from audiolla_mcp.engines.cpu_inference import (
    FlashSelfAttention,
    PointwiseConv1d,
    for_cpu_inference,
)


def _same_function(original: nn.Module, *inputs: torch.Tensor) -> nn.Module:
    rewritten = for_cpu_inference(copy.deepcopy(original))
    with torch.inference_mode():
        expected, got = original(*inputs), rewritten(*inputs)
    if isinstance(expected, tuple):
        expected, got = expected[0], got[0]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    return rewritten


def test_self_and_cross_attention_keep_their_output():
    torch.manual_seed(0)
    attention = nn.MultiheadAttention(32, 4, batch_first=True).eval()
    rewritten = for_cpu_inference(copy.deepcopy(attention))
    assert type(rewritten) is FlashSelfAttention
    tokens, memory = torch.randn(2, 50, 32), torch.randn(2, 40, 32)
    with torch.inference_mode():
        for query, key in ((tokens, tokens), (tokens, memory)):
            expected = attention(query, key, key, need_weights=False)[0]
            got = rewritten(query, key, key, need_weights=False)[0]
            torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_pointwise_convolutions_become_matrix_products_and_others_stay():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(6, 96, 1), nn.GELU(), nn.Conv1d(96, 8, 3, padding=1),
                          nn.Conv1d(8, 4, 1, bias=False))
    rewritten = _same_function(model, torch.randn(5, 6, 77))
    assert [type(m) for m in rewritten] == [PointwiseConv1d, nn.GELU, nn.Conv1d, nn.Conv1d]


def test_htdemucs_separates_the_same_after_the_rewrites():
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(0)
    model = HTDemucs(**{**tiny_htdemucs_kwargs(), "segment": Fraction(1, 4)}).eval()
    mix = 0.3 * torch.randn(1, 2, int(model.segment * model.samplerate))
    rewritten = _same_function(model, mix)
    kinds = {type(m) for m in rewritten.modules()}
    assert {FlashSelfAttention, PointwiseConv1d} <= kinds
    assert all(p.is_contiguous(memory_format=torch.channels_last)
               for p in rewritten.parameters() if p.dim() == 4)
