"""PNG pictures of audio for people: spectrogram, waveform and loudness curves.

Every picture is computed at the resolution it is drawn at (one spectrum or one min/max pair
per pixel column), so a long track renders as fast as a short one. Drawing uses matplotlib's
object API with the Agg canvas: no pyplot state, safe in worker threads.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import scipy.fft
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ToolError

FrequencyScale = Literal["linear", "log", "mel"]
WaveformScale = Literal["linear", "db"]

_DPI = 100
_MARGIN = {"left": 64, "right": 16, "top": 30, "bottom": 42}  # pixels around the plot area
_COLORBAR_PX = 92  # colour bar plus its labels, right of a spectrogram
_LANE_GAP_PX = 10
_FULL_SCALE = 0.999  # −0.009 dBFS: a sample this high is taken as clipping
_BATCH = 64  # spectrogram frames per FFT batch
_LOG_FMIN_HZ = 20.0
_FONT_PT = 9
_WAVE_COLOR = "#2f6db3"
_RMS_COLOR = "#8fb8e8"


def _check_size(width: int, height: int) -> None:
    if not (240 <= width <= 4096 and 160 <= height <= 4096):
        raise ToolError(
            f"image size {width}x{height} is out of range; width 240–4096, height 160–4096 px."
        )


def _figure(width: int, height: int) -> Figure:
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    FigureCanvasAgg(fig)
    return fig


def _plot_box(width: int, height: int, right_px: int, top_px: int, bottom_px: int) -> list[float]:
    """[left, bottom, w, h] in figure fractions for a plot area with fixed pixel margins; the
    area is a whole number of pixels wide and high."""
    left = _MARGIN["left"]
    return [
        left / width,
        bottom_px / height,
        (width - left - right_px) / width,
        (height - top_px - bottom_px) / height,
    ]


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    # zlib level 3: a quarter faster than the default 6 for about a fifth more bytes
    fig.savefig(buf, format="png", dpi=_DPI, pil_kwargs={"compress_level": 3})
    return buf.getvalue()


def _format_time_axis(ax, duration_s: float) -> None:
    """Seconds for short clips, m:ss for anything a minute or longer."""
    ax.set_xlim(0, duration_s)
    if duration_s >= 60:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=10, steps=[1, 1.5, 2, 3, 6, 10]))
        ax.xaxis.set_major_formatter(
            FuncFormatter(lambda t, _: f"{round(t) // 60}:{round(t) % 60:02d}")
        )
        ax.set_xlabel("time (m:ss)", fontsize=_FONT_PT)
    else:
        ax.set_xlabel("time (s)", fontsize=_FONT_PT)
    ax.tick_params(labelsize=_FONT_PT)


def _hz_label(f: float) -> str:
    if f >= 1000:
        return f"{f / 1000:g}k"
    return f"{f:g}"


# --- spectrogram -----------------------------------------------------------------------------


def _scale_fns(scale: FrequencyScale) -> tuple[Callable, Callable]:
    """Forward (Hz → axis units) and inverse maps of a frequency scale."""
    if scale == "linear":
        return (lambda f: np.asarray(f, dtype=float)), (lambda s: np.asarray(s, dtype=float))
    if scale == "log":
        return np.log10, (lambda s: 10.0 ** np.asarray(s))
    if scale == "mel":  # HTK mel
        return (lambda f: 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)), (
            lambda m: 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)
        )
    raise ToolError(f"scale must be linear, log or mel (got {scale!r}).")


def _fft_size(sr: int) -> int:
    """≈ 93 ms frames: 4096 at 44.1/48 kHz, fine enough to separate low notes."""
    return 1 << max(8, round(math.log2(sr * 0.093)))


def column_spectra(samples: np.ndarray, sr: int, columns: int, n_fft: int) -> np.ndarray:
    """Power spectra (bins, columns) of one Hann frame centred in each of `columns` equal time
    slices (frames at the very ends are moved inside the signal), averaged over channels and
    scaled so a full-scale sine peaks at 1.0 (0 dBFS). Frames are transformed in small batches
    that stay in cache."""
    audio = samples.astype(np.float32, copy=False)
    n = audio.shape[-1]
    if n < n_fft:
        audio = np.pad(audio, ((0, 0), ((n_fft - n) // 2, n_fft - n - (n_fft - n) // 2)))
    centres = ((np.arange(columns) + 0.5) * n / columns).astype(np.int64)
    starts = np.clip(centres - n_fft // 2, 0, audio.shape[-1] - n_fft)
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)
    frames = sliding_window_view(audio, n_fft, axis=1)
    power = np.empty((columns, n_fft // 2 + 1), dtype=np.float32)
    for a in range(0, columns, _BATCH):
        spectra = scipy.fft.rfft(frames[:, starts[a : a + _BATCH]] * window, axis=-1)
        power[a : a + _BATCH] = (spectra.real**2 + spectra.imag**2).mean(axis=0)
    return (power / (window.sum() / 2) ** 2).T


def _rows_from_bins(
    power: np.ndarray, bin_hz: float, edges_hz: np.ndarray, centres_hz: np.ndarray
) -> np.ndarray:
    """Resample spectra (bins, cols) onto pixel rows bounded by `edges_hz`: a row that covers
    bins takes their maximum (a tone keeps its level), a row thinner than a bin interpolates."""
    bins = power.shape[0]
    lo = np.clip(np.ceil(edges_hz[:-1] / bin_hz).astype(int), 0, bins - 1)
    hi = np.clip(np.floor(edges_hz[1:] / bin_hz).astype(int), 0, bins - 1)
    covered = hi >= lo
    pos = np.clip(centres_hz / bin_hz, 0, bins - 1.000001)
    i0 = pos.astype(int)
    frac = (pos - i0)[:, None]
    rows = power[i0] * (1 - frac) + power[np.minimum(i0 + 1, bins - 1)] * frac
    if covered.any():
        starts = lo[covered]
        stop = hi[covered][-1] + 1
        rows[covered] = np.maximum.reduceat(power[:stop], starts, axis=0)
    return rows


def spectrogram_png(
    samples: np.ndarray,
    sr: int,
    width: int = 1200,
    height: int = 600,
    scale: FrequencyScale = "log",
    range_db: float = 90.0,
    fmax: float | None = None,
    title: str | None = None,
) -> bytes:
    """A spectrogram PNG: time across, frequency up (linear, log or mel axis labelled in Hz),
    colour in dBFS from −`range_db` to 0 (a full-scale sine is 0 dBFS), with a colour bar."""
    _check_size(width, height)
    if not 20 <= range_db <= 160:
        raise ToolError(f"range_db must be between 20 and 160 (got {range_db}).")
    nyquist = sr / 2
    fmax = nyquist if fmax is None else float(fmax)
    fmin = _LOG_FMIN_HZ if scale == "log" else 0.0
    if not fmin < fmax <= nyquist:
        raise ToolError(f"fmax must be above {fmin:g} Hz and at most {nyquist:g} Hz (got {fmax:g}).")
    top = _MARGIN["top"] + (18 if title else 0)
    box = _plot_box(width, height, _COLORBAR_PX, top, _MARGIN["bottom"])
    columns = width - _MARGIN["left"] - _COLORBAR_PX
    rows = height - top - _MARGIN["bottom"]
    n_fft = _fft_size(sr)
    power = column_spectra(samples, sr, columns, n_fft)
    fwd, inv = _scale_fns(scale)
    s_lo, s_hi = float(fwd(fmin)), float(fwd(fmax))
    grid = np.linspace(s_lo, s_hi, rows + 1)
    image = _rows_from_bins(power, sr / n_fft, inv(grid), inv((grid[:-1] + grid[1:]) / 2))
    db = 10 * np.log10(np.maximum(image, 1e-30))

    fig = _figure(width, height)
    # the image is drawn pixel for pixel (no resampling), under an axes box of the same size
    norm = Normalize(vmin=-range_db, vmax=0.0)
    cmap = colormaps["magma"]
    fig.figimage(cmap(norm(db), bytes=True), xo=_MARGIN["left"], yo=_MARGIN["bottom"],
                 origin="lower")
    ax = fig.add_axes(box)
    ax.patch.set_visible(False)
    duration = samples.shape[-1] / sr
    ticks = _frequency_ticks(scale, fmin, fmax)
    ax.set_yticks([float(fwd(f)) for f in ticks], [_hz_label(f) for f in ticks])
    ax.set_ylim(s_lo, s_hi)
    ax.set_ylabel("frequency (Hz)", fontsize=_FONT_PT)
    _format_time_axis(ax, duration)
    if title:
        ax.set_title(title, fontsize=_FONT_PT + 2)
    cax = fig.add_axes([box[0] + box[2] + 12 / width, box[1], 14 / width, box[3]])
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax)
    bar.set_label("level (dBFS)", fontsize=_FONT_PT)
    bar.ax.tick_params(labelsize=_FONT_PT)
    return _png(fig)


def _frequency_ticks(scale: FrequencyScale, fmin: float, fmax: float) -> list[float]:
    if scale == "linear":
        return [f for f in MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10]).tick_values(fmin, fmax)
                if fmin <= f <= fmax]
    decades = [10 ** e * m for e in range(1, 6) for m in (1, 2, 5)]
    return [f for f in decades if max(fmin, 1.0) <= f <= fmax]


# --- waveform --------------------------------------------------------------------------------


def column_envelope(samples: np.ndarray, columns: int) -> tuple[np.ndarray, ...]:
    """Per channel and pixel column: min, max and RMS of the samples falling in the column."""
    n = samples.shape[-1]
    columns = max(1, min(columns, n))
    starts = np.linspace(0, n, columns, endpoint=False).astype(np.int64)
    lows = np.minimum.reduceat(samples, starts, axis=1)
    highs = np.maximum.reduceat(samples, starts, axis=1)
    counts = np.diff(np.append(starts, n))
    squares = np.add.reduceat(np.square(samples), starts, axis=1, dtype=np.float64)
    return lows, highs, np.sqrt(squares / counts), starts


def _channel_names(channels: int) -> list[str]:
    return ["L", "R"] if channels == 2 else [f"ch {i + 1}" for i in range(channels)]


def waveform_png(
    samples: np.ndarray,
    sr: int,
    width: int = 1200,
    height: int = 400,
    scale: WaveformScale = "linear",
    range_db: float = 60.0,
    title: str | None = None,
) -> bytes:
    """A waveform PNG, one lane per channel: the min/max envelope per pixel column (dark), the
    RMS inside it (light), columns reaching full scale (within 0.01 dB) marked red. `scale="db"` draws the
    peak and RMS levels in dBFS down to −`range_db`."""
    _check_size(width, height)
    if scale not in ("linear", "db"):
        raise ToolError(f"scale must be 'linear' or 'db' (got {scale!r}).")
    channels = samples.shape[0]
    if channels > 8:
        raise ToolError(f"waveform draws at most 8 channels (got {channels}).")
    top = _MARGIN["top"] + (18 if title else 0)
    box = _plot_box(width, height, _MARGIN["right"], top, _MARGIN["bottom"])
    lows, highs, rms, starts = column_envelope(samples, round(box[2] * width))
    duration = samples.shape[-1] / sr
    t = (starts + 0.5 * np.diff(np.append(starts, samples.shape[-1]))) / sr
    fig = _figure(width, height)
    gap = _LANE_GAP_PX / height
    lane_h = (box[3] - gap * (channels - 1)) / channels
    for ch, name in enumerate(_channel_names(channels)):
        ax = fig.add_axes([box[0], box[1] + (channels - 1 - ch) * (lane_h + gap), box[2], lane_h])
        peak = np.maximum(np.abs(lows[ch]), np.abs(highs[ch]))
        if scale == "linear":
            ax.fill_between(t, lows[ch], highs[ch], color=_WAVE_COLOR, lw=0, step="mid")
            ax.fill_between(t, -rms[ch], rms[ch], color=_RMS_COLOR, lw=0, step="mid")
            ax.set_ylim(-1.05, 1.05)
            ax.set_yticks([-1, -0.5, 0, 0.5, 1], ["-1", "-.5", "0", ".5", "1"])
            clip_y = 1.0
        else:
            floor = -range_db
            peak_db = np.maximum(20 * np.log10(np.maximum(peak, 1e-12)), floor)
            rms_db = np.maximum(20 * np.log10(np.maximum(rms[ch], 1e-12)), floor)
            ax.fill_between(t, floor, peak_db, color=_WAVE_COLOR, lw=0, step="mid")
            ax.fill_between(t, floor, rms_db, color=_RMS_COLOR, lw=0, step="mid")
            ax.set_ylim(floor, 1.5)
            ax.yaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 3, 5, 6, 10]))
            clip_y = 0.0
        clipped = peak >= _FULL_SCALE
        if clipped.any():
            ax.plot(t[clipped], np.full(clipped.sum(), clip_y), "|", color="#d62728", ms=8)
        if scale == "linear":
            ax.axhline(0, color="#999999", lw=0.5, zorder=0)
        ax.text(0.004, 0.93, name, transform=ax.transAxes, va="top", fontsize=_FONT_PT,
                fontweight="bold", bbox={"facecolor": "white", "alpha": 0.8, "lw": 0, "pad": 1.5})
        ax.grid(axis="y", color="#dddddd", lw=0.5)
        ax.tick_params(labelsize=_FONT_PT - 1)
        _format_time_axis(ax, duration)
        if ch < channels - 1:
            ax.set_xticklabels([])
            ax.set_xlabel("")
        if ch == 0 and title:
            ax.set_title(title, fontsize=_FONT_PT + 2)
    unit = "amplitude (full scale = 1)" if scale == "linear" else "level (dBFS)"
    fig.text(0.006, box[1] + box[3] / 2, unit, rotation=90, va="center", fontsize=_FONT_PT)
    return _png(fig)


# --- loudness curve --------------------------------------------------------------------------


def _finite(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def loudness_png(
    times: Sequence[float],
    momentary: Sequence[float | None],
    short_term: Sequence[float | None],
    target_lufs: float | None = None,
    title: str | None = None,
    width: int = 1200,
    height: int = 400,
    integrated_lufs: float | None = None,
) -> bytes:
    """A loudness-over-time PNG: momentary (400 ms) and short-term (3 s) loudness in LUFS, with
    dashed lines for the target and the integrated loudness when given. `None` (silence,
    below the gate) leaves a gap."""
    _check_size(width, height)
    t = np.asarray(times, dtype=float)
    m, s = _finite(momentary), _finite(short_term)
    if not (len(t) == len(m) == len(s)) or len(t) == 0:
        raise ToolError("times, momentary and short_term must be non-empty and of equal length.")
    top = _MARGIN["top"] + (18 if title else 0)
    fig = _figure(width, height)
    ax = fig.add_axes(_plot_box(width, height, _MARGIN["right"], top, _MARGIN["bottom"]))
    ax.plot(t, m, color="#9ecae1", lw=0.8, label="momentary (400 ms)")
    ax.plot(t, s, color="#08519c", lw=1.6, label="short-term (3 s)")
    levels = [v for v in (np.nanmax(m) if np.isfinite(m).any() else None,
                          np.nanmax(s) if np.isfinite(s).any() else None,
                          target_lufs, integrated_lufs) if v is not None]
    if target_lufs is not None:
        ax.axhline(target_lufs, color="#d62728", ls="--", lw=1.2,
                   label=f"target {target_lufs:g} LUFS")
    if integrated_lufs is not None:
        ax.axhline(integrated_lufs, color="#2ca02c", ls=":", lw=1.4,
                   label=f"integrated {integrated_lufs:.1f} LUFS")
    hi = math.ceil((max(levels) if levels else 0.0) / 3) * 3 + 3
    finite = np.concatenate([m[np.isfinite(m)], s[np.isfinite(s)]])
    lo_data = float(np.percentile(finite, 2)) if finite.size else hi - 40
    lo = math.floor(max(min(lo_data, hi - 12), hi - 60) / 3) * 3 - 3
    ax.set_ylim(lo, hi)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=8, integer=True, steps=[1, 2, 3, 5, 6, 10]))
    ax.set_ylabel("loudness (LUFS)", fontsize=_FONT_PT)
    ax.grid(color="#e5e5e5", lw=0.6)
    ax.legend(loc="lower right", fontsize=_FONT_PT - 1, framealpha=0.85)
    _format_time_axis(ax, float(t[-1]) if t[-1] > 0 else 1.0)
    if title:
        ax.set_title(title, fontsize=_FONT_PT + 2)
    return _png(fig)
