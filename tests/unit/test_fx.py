"""The fx chain accepts only the allowlist, runs each effect for real, and the convolution
reverb places, scales and keeps its tail as specified."""

from __future__ import annotations

import typing

import numpy as np
import pedalboard
import pytest
from fx_signals import SR, db, tone, white
from pydantic import TypeAdapter, ValidationError

from audiolla_mcp.errors import ToolError
from audiolla_mcp.ops import effect_specs as specs
from audiolla_mcp.ops import fx

CHAIN = TypeAdapter(list[specs.EffectSpec])
SPEC_TYPES = typing.get_args(typing.get_args(specs.EffectSpec)[0])


def chain(*effects: dict) -> list:
    return CHAIN.validate_python(list(effects))


def test_allowlist_is_the_documented_23_effects_all_builtin():
    names = {t.model_fields["type"].annotation.__args__[0] for t in SPEC_TYPES}
    assert len(names) == 23 and {"compressor", "convolution", "mp3_compressor", "ladder_filter"} <= names
    for plugin in fx._PLUGINS.values():
        assert not issubclass(plugin, pedalboard.ExternalPlugin)
        assert plugin.__module__.startswith("pedalboard")


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "vst3", "path": "/usr/lib/vst3/evil.vst3"},
        {"type": "load_plugin", "path_to_plugin_file": "x.so"},
        {"type": "compressor", "path": "x"},  # extra fields are refused too
        {"type": "gain", "gain_db": 100},  # out of range
        {"type": "reverb", "room_size": "big"},
    ],
)
def test_effects_outside_the_schema_are_rejected(bad: dict):
    with pytest.raises(ValidationError):
        chain(bad)


@pytest.mark.parametrize("spec_type", [t for t in SPEC_TYPES if t is not specs.Convolution])
def test_every_effect_runs_with_its_defaults(spec_type):
    effect = spec_type(type=spec_type.model_fields["type"].annotation.__args__[0])
    x = tone(440, 0.3, amp=0.3, channels=2)
    out = fx.fx_chain(x, SR, [effect])
    assert out.shape == x.shape and out.dtype == np.float32 and np.isfinite(out).all()


def test_gain_and_invert_are_exact_and_run_in_order():
    x = tone(440, 0.2, amp=0.5)
    out = fx.fx_chain(x, SR, chain({"type": "gain", "gain_db": -6.0206}, {"type": "invert"}))
    np.testing.assert_allclose(out, -x / 2, atol=1e-5)
    # clip then gain ≠ gain then clip: the order is respected
    clip_first = fx.fx_chain(x, SR, chain({"type": "clipping", "threshold_db": -12}, {"type": "gain", "gain_db": 6}))
    gain_first = fx.fx_chain(x, SR, chain({"type": "gain", "gain_db": 6}, {"type": "clipping", "threshold_db": -12}))
    assert np.abs(clip_first).max() == pytest.approx(2 * 10 ** (-12 / 20), rel=0.01)
    assert np.abs(gain_first).max() == pytest.approx(10 ** (-12 / 20), rel=0.01)


def test_tail_lets_a_delay_ring_out():
    x = np.zeros((1, SR // 2), np.float32)
    x[0, 0] = 1.0
    out = fx.fx_chain(x, SR, chain({"type": "delay", "delay_seconds": 0.6, "mix": 0.5}), tail_s=0.2)
    assert out.shape[-1] == SR // 2 + round(0.2 * SR)
    echo = round(0.6 * SR)
    assert np.abs(out[0, echo - 5 : echo + 5]).max() > 0.2


def test_filter_above_nyquist_is_refused():
    with pytest.raises(ToolError, match="Nyquist"):
        fx.fx_chain(tone(100, 0.1, sr=16000), 16000, chain({"type": "lowpass_filter", "cutoff_frequency_hz": 12000}))


def test_convolution_spec_uses_the_decoded_ir_by_name():
    x = white(0.5, amp=0.2)
    ir = np.zeros((1, 256), np.float32)
    ir[0, 0] = 1.0  # a unit impulse: the convolution is transparent
    effects = chain({"type": "convolution", "ir": "irs/dirac.wav", "mix": 1.0})
    out = fx.fx_chain(x, SR, effects, irs={"irs/dirac.wav": (ir, SR)})
    np.testing.assert_allclose(out, x, atol=2e-3)
    with pytest.raises(ToolError, match="not provided"):
        fx.fx_chain(x, SR, effects)


def impulse_response(delay: int, length: int, sr_channels: int = 1) -> np.ndarray:
    ir = np.zeros((sr_channels, length), np.float32)
    ir[:, delay] = 1.0
    return ir


def test_convolution_reverb_places_the_wet_signal():
    x = white(0.5, amp=0.1)
    out = fx.convolution_reverb(x, SR, impulse_response(1000, 2000), SR, wet=0.5, dry=1.0, pre_delay_ms=10)
    delay = 1000 + round(0.010 * SR)
    expected = np.zeros((1, x.shape[-1] + round(0.010 * SR) + 1999), np.float32)
    expected[0, : x.shape[-1]] += x[0]
    expected[0, delay : delay + x.shape[-1]] += 0.5 * x[0]
    np.testing.assert_allclose(out.audio, expected, atol=1e-5)
    assert out.gain_db == 0
    assert out.tail_s == pytest.approx((round(0.010 * SR) + 1999) / SR, abs=1e-3)


def test_convolution_reverb_resamples_the_ir_and_keeps_its_tail():
    decay = np.exp(-np.arange(22050) / 2205.0).astype(np.float32)
    ir = (white(1.0, amp=1.0, sr=22050, seed=3)[0] * decay)[None]
    out = fx.convolution_reverb(tone(440, 0.5, amp=0.1), SR, ir, 22050, wet=0.3, dry=1.0)
    assert out.tail_s == pytest.approx(1.0, abs=0.01)  # 1 s of IR at any rate
    tail = out.audio[0, round(0.5 * SR) :]
    assert np.abs(tail[: SR // 10]).max() > 1e-3  # the room still rings after the input ends


def test_convolution_reverb_is_peak_safe_and_upmixes_a_stereo_ir():
    x = tone(100, 0.5, amp=0.95)
    ir = np.stack([impulse_response(0, 500)[0], impulse_response(40, 500)[0]])
    out = fx.convolution_reverb(x, SR, ir, SR, wet=1.0, dry=1.0)
    assert out.audio.shape[0] == 2
    assert np.abs(out.audio).max() <= 10 ** (-0.1 / 20) + 1e-6
    # unit-energy IR (each channel a unit impulse): dry + wet doubles the level, so ~-6 dB back
    assert out.gain_db == pytest.approx(db(10 ** (-0.1 / 20) / (2 * 0.95)), abs=0.05)


def test_silent_ir_is_refused():
    with pytest.raises(ToolError, match="silent"):
        fx.convolution_reverb(white(0.1), SR, np.zeros((1, 100), np.float32), SR)
