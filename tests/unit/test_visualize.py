"""Pictures and videos: sizes, where a known tone lands, calibrated levels, envelopes."""

from __future__ import annotations

import io
import math
import subprocess

import numpy as np
import pytest
from edit_signals import SR, music_track, tone, write_wav
from PIL import Image

from audiolla_mcp.errors import ToolError
from audiolla_mcp.ops import video, visualize
from audiolla_mcp.ops.visualize import _COLORBAR_PX, _MARGIN


def decode(png: bytes) -> np.ndarray:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def plot_area(img: np.ndarray, top: int = _MARGIN["top"]) -> np.ndarray:
    """The spectrogram's pixel area (row 0 = highest frequency)."""
    h, w, _ = img.shape
    return img[top : h - _MARGIN["bottom"], _MARGIN["left"] : w - _COLORBAR_PX]


def brightest_row_from_bottom(area: np.ndarray) -> float:
    brightness = area.sum(axis=2).mean(axis=1)
    return area.shape[0] - 1 - int(np.argmax(brightness))


def test_full_scale_sine_reads_0_dbfs():
    n_fft = 4096
    freq = 93 * SR / n_fft  # exactly on a bin: no scalloping loss
    power = visualize.column_spectra(tone(freq, 2.0, amp=1.0, channels=2), SR, 50, n_fft)
    peak_db = 10 * np.log10(power.max(axis=0))
    np.testing.assert_allclose(peak_db[2:-2], 0.0, atol=0.01)
    assert int(np.argmax(power[:, 25])) == 93
    quiet = visualize.column_spectra(tone(freq, 2.0, amp=0.1), SR, 10, n_fft)
    assert 10 * np.log10(quiet.max()) == pytest.approx(-20.0, abs=0.01)


@pytest.mark.parametrize(("scale", "freq"), [("linear", 5000.0), ("log", 100.0), ("log", 5000.0),
                                             ("mel", 2000.0)])
def test_spectrogram_puts_a_tone_at_its_frequency(scale, freq):
    fmax = 11025.0
    png = visualize.spectrogram_png(tone(freq, 3.0, amp=0.8), SR, 800, 500, scale=scale, fmax=fmax)
    img = decode(png)
    assert img.shape == (500, 800, 3)
    area = plot_area(img)
    row = brightest_row_from_bottom(area)
    fwd, _ = visualize._scale_fns(scale)
    fmin = 20.0 if scale == "log" else 0.0
    bin_hz = SR / 4096

    def row_of(f: float) -> float:
        return (fwd(f) - fwd(fmin)) / (fwd(fmax) - fwd(fmin)) * area.shape[0]

    # within one FFT bin of the true frequency, plus a pixel
    assert row_of(freq - bin_hz) - 1 <= row <= row_of(freq + bin_hz) + 1


def test_spectrogram_of_a_long_stereo_track_has_the_requested_size():
    png = visualize.spectrogram_png(music_track(60.0), SR, 1200, 600, title="a song")
    assert decode(png).shape == (600, 1200, 3)
    silent = decode(visualize.spectrogram_png(np.zeros((2, SR), np.float32), SR, 400, 300))
    dark = plot_area(silent, top=_MARGIN["top"])
    assert dark.max() < 40  # digital silence sits at the bottom of the colour map


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"width": 100}, "out of range"), ({"fmax": 30000.0}, "fmax"), ({"range_db": 5}, "range_db"),
     ({"scale": "bark"}, "scale")],
)
def test_spectrogram_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ToolError, match=message):
        visualize.spectrogram_png(tone(440, 0.5), SR, **kwargs)


def test_column_envelope_of_a_ramp():
    x = np.arange(1000, dtype=np.float32)[None] / 1000
    lows, highs, rms, starts = visualize.column_envelope(x, 10)
    assert starts.tolist() == list(range(0, 1000, 100))
    np.testing.assert_allclose(lows[0], np.arange(0, 1000, 100) / 1000)
    np.testing.assert_allclose(highs[0], np.arange(99, 1000, 100) / 1000)
    expected_rms = [math.sqrt(np.mean((np.arange(a, a + 100) / 1000) ** 2)) for a in range(0, 1000, 100)]
    np.testing.assert_allclose(rms[0], expected_rms, rtol=1e-5)


@pytest.mark.parametrize("scale", ["linear", "db"])
def test_waveform_png(scale):
    x = np.concatenate([tone(440, 1.0, amp=0.5, channels=2), tone(440, 1.0, amp=1.0, channels=2)],
                       axis=1)
    img = decode(visualize.waveform_png(x, SR, 900, 360, scale=scale, title="clip"))
    assert img.shape == (360, 900, 3)
    red = (img[:, :, 0] > 180) & (img[:, :, 1] < 90) & (img[:, :, 2] < 90)
    assert red.any()  # the full-scale half is flagged
    left, right = _MARGIN["left"], 900 - _MARGIN["right"]
    assert not red[:, left : (left + right) // 2 - 5].any()


def test_loudness_png_and_its_errors():
    t = np.arange(0, 30, 0.1)
    momentary = [None] * 5 + list(-16 + 3 * np.sin(t[5:]))
    img = decode(visualize.loudness_png(t, momentary, -16 + np.sin(t), target_lufs=-14,
                                        integrated_lufs=-16.2, width=800, height=300))
    assert img.shape == (300, 800, 3)
    with pytest.raises(ToolError, match="equal length"):
        visualize.loudness_png([0, 1], [-20], [-20, -21])


def test_visualize_video_renders_mp4_with_sound(tmp_path):
    src = write_wav(tmp_path / "in.wav", music_track(4.0))
    out = tmp_path / "out.mp4"
    seen = []
    video.visualize_video(src, out, "waves", 320, 241, 15, progress=lambda d, t, m: seen.append(d))
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,width,height",
         "-of", "csv=p=0", str(out)], capture_output=True, text=True, check=True).stdout.split()
    assert "video,320,240" in probe and "audio" in probe
    assert seen and seen[-1] == pytest.approx(4.0, abs=0.05)


def test_visualize_video_errors(tmp_path):
    src = write_wav(tmp_path / "in.wav", tone(440, 1.0))
    with pytest.raises(ToolError, match="mp4 or webm"):
        video.visualize_video(src, tmp_path / "out.avi", "waves")
    with pytest.raises(ToolError, match="mode"):
        video.visualize_video(src, tmp_path / "out.mp4", "fireworks")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    with pytest.raises(ToolError, match="not audio"):
        video.visualize_video(junk, tmp_path / "out.mp4", "waves")
    assert not (tmp_path / "out.mp4").exists()
