"""One analysis view of a signal, shared by every music-analysis op.

Tempo, key, chords, melody and structure all start from the same mono 22.05 kHz signal, the
same magnitude spectrogram and the same onset strengths. `MusicFeatures` computes each of them on
first use and keeps it, so `analyze` pays for them once however many answers it gives; ops memoise
their own intermediate results (beat grid, chroma) on it through `memo`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cached_property, lru_cache
from typing import Any, TypeVar

import numpy as np
import scipy.fft
import soxr

from ..errors import ToolError
from ..progress import NEVER, CancelToken, ProgressFn, no_progress

log = logging.getLogger(__name__)

ANALYSIS_SR = 22050
HOP = 512
N_FFT = 2048
N_MELS = 128
FRAME_RATE = ANALYSIS_SR / HOP
MIN_SR, MAX_SR = 4000, 384000
SILENCE_RMS = 1e-5  # −100 dBFS: below this a signal is treated as silent
REFERENCE_RMS = 0.1  # analysis runs on a copy at −20 dBFS RMS so results do not depend on level

STFT_BLOCK = 2048  # frames per FFT block: bounded memory and a cancellation point per block
LEAD_IN = 2  # frames of silence-to-signal transition analysed before the first frame
ONSET_BANDS = 8  # register groups for the periodicity of onsets
NOTE_BANDS_PER_OCTAVE = 24  # quarter tones: neighbouring notes fall in different bands
NOTE_FMIN, NOTE_FMAX = 40.0, 8000.0  # Hz: the range where notes have their partials
NOTE_LOG_GAIN = 1000.0  # log(1 + gain·|X|): quiet partials count, noise ~60 dB down does not

T = TypeVar("T")


def check_audio(samples: np.ndarray, sr: int) -> None:
    """Reject what no analysis can use, with a message that says what to pass instead."""
    if not isinstance(samples, np.ndarray) or samples.ndim != 2:
        raise ToolError("audio must be a 2-D array shaped (channels, frames)")
    if samples.shape[0] < 1 or samples.shape[1] < 1:
        raise ToolError("the audio is empty; pass at least one sample")
    if not MIN_SR <= int(sr) <= MAX_SR:
        raise ToolError(f"sample rate {sr} Hz is outside {MIN_SR}–{MAX_SR} Hz; resample the file first")
    if not np.all(np.isfinite(samples)):
        raise ToolError("the audio contains NaN or infinite samples; repair or re-export it")


def downmix(samples: np.ndarray) -> np.ndarray:
    """Channel mean as float32: every layout (mono, stereo, 5.1) analyses as one signal."""
    return samples.astype(np.float32, copy=False).mean(axis=0)


def resample(signal: np.ndarray, sr_from: float, sr_to: float) -> np.ndarray:
    if sr_from == sr_to:
        return np.ascontiguousarray(signal, dtype=np.float32)
    return soxr.resample(signal, sr_from, sr_to, quality="HQ").astype(np.float32)


def stft_magnitude(signal: np.ndarray, n_fft: int, hop: int, cancel: CancelToken = NEVER) -> np.ndarray:
    """|STFT| with centred Hann frames (frame t is centred on sample t·hop), scaled so that a
    full-scale sinusoid peaks at 0.5 whatever `n_fft` is. Shape (n_fft//2 + 1, frames)."""
    n_frames = 1 + len(signal) // hop
    padded = np.pad(signal.astype(np.float32, copy=False), (n_fft // 2, n_fft // 2 + hop))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop][:n_frames]
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    out = np.empty((n_frames, n_fft // 2 + 1), dtype=np.float32)
    scale = np.float32(1.0 / window.sum())
    for start in range(0, n_frames, STFT_BLOCK):
        cancel.check()
        block = frames[start : start + STFT_BLOCK] * window
        np.multiply(np.abs(scipy.fft.rfft(block, axis=1, workers=2)), scale, out=out[start : start + len(block)])
    return out.T


class Stages:
    """Progress over a known number of analysis stages, checking for cancellation at each."""

    def __init__(self, total: int, progress: ProgressFn = no_progress, cancel: CancelToken = NEVER):
        self.total, self.done = total, 0
        self.progress, self.cancel = progress, cancel

    def __call__(self, message: str) -> None:
        self.cancel.check()
        self.done = min(self.done + 1, self.total)
        self.progress(self.done, self.total, message)


class MusicFeatures:
    """Lazily computed, shared features of one signal (see the module docstring)."""

    def __init__(self, samples: np.ndarray, sr: int, cancel: CancelToken = NEVER):
        check_audio(samples, sr)
        self.cancel = cancel
        self.source_sr = int(sr)
        self.channels = int(samples.shape[0])
        self.duration_s = samples.shape[1] / sr
        mono = downmix(samples)
        self.rms = float(np.sqrt(np.mean(np.square(mono, dtype=np.float64))))
        self.silent = self.rms < SILENCE_RMS
        gain = 0.0 if self.silent else REFERENCE_RMS / self.rms
        self.signal = resample(mono * np.float32(gain), self.source_sr, ANALYSIS_SR)
        self.sr = ANALYSIS_SR
        self._memo: dict[str, Any] = {}

    def memo(self, name: str, compute: Callable[[], T]) -> T:
        """Compute a named intermediate result once per signal."""
        if name not in self._memo:
            self._memo[name] = compute()
        return self._memo[name]

    @property
    def n_frames(self) -> int:
        return 1 + len(self.signal) // HOP

    @staticmethod
    def frame_times(frames: np.ndarray | int) -> np.ndarray:
        return np.asarray(frames, dtype=np.float64) * (HOP / ANALYSIS_SR)

    @staticmethod
    def time_frames(times: np.ndarray | float) -> np.ndarray:
        return np.round(np.asarray(times, dtype=np.float64) * FRAME_RATE).astype(int)

    @cached_property
    def spectrogram(self) -> np.ndarray:
        return stft_magnitude(self.signal, N_FFT, HOP, self.cancel)

    @cached_property
    def _spectrum_with_lead_in(self) -> np.ndarray:
        """The spectrogram preceded by LEAD_IN frames of what the analysis window sees as it slides
        in from silence, so a note struck at the very first sample rises like any other."""
        lead_in = np.concatenate([np.zeros(LEAD_IN * HOP, np.float32), self.signal[: 2 * N_FFT]])
        head = stft_magnitude(lead_in, N_FFT, HOP, self.cancel)[:, :LEAD_IN]
        return np.concatenate([head, self.spectrogram], axis=1)

    @cached_property
    def _mel_power(self) -> np.ndarray:
        """Mel power spectrogram (librosa's scale), with the lead-in."""
        spectrum = self._spectrum_with_lead_in * np.float32(N_FFT / 2)
        return mel_filterbank(ANALYSIS_SR, N_FFT, N_MELS) @ spectrum**2

    @cached_property
    def _mel_db_with_lead_in(self) -> np.ndarray:
        return power_to_db(self._mel_power)

    @cached_property
    def mel_db(self) -> np.ndarray:
        """128-band log-mel power spectrogram (dB, 80 dB range), as librosa computes it."""
        return self._mel_db_with_lead_in[:, LEAD_IN:]

    @cached_property
    def _log_rise(self) -> np.ndarray:
        return self._rise(self._mel_db_with_lead_in)

    @cached_property
    def onset_envelope(self) -> np.ndarray:
        """Spectral flux of the log-mel spectrogram averaged over bands (librosa's onset
        strength): every attack, including one on the first sample."""
        return self._envelope(self._log_rise.mean(axis=0))

    @cached_property
    def low_onset_envelope(self) -> np.ndarray:
        """Onset strength below ~200 Hz: kick drums and bass notes, which mark strong beats."""
        low = mel_centres(ANALYSIS_SR, N_MELS) < 200.0
        return self._envelope(self._log_rise[low].mean(axis=0))

    @cached_property
    def band_onsets(self) -> np.ndarray:
        """The flux in ONSET_BANDS groups of adjacent mel bands, shape (ONSET_BANDS, frames): a
        pattern that recurs in the same register (a hi-hat, a repeated chord) shows its period,
        while different notes in turn (an arpeggio) do not add up as they do in one envelope."""
        grouped = self._log_rise.reshape(ONSET_BANDS, N_MELS // ONSET_BANDS, -1).mean(axis=1)
        return np.stack([self._envelope(band) for band in grouped])

    @cached_property
    def note_onset_envelope(self) -> np.ndarray:
        """Flux of the log-compressed spectrum on a quarter-tone axis (Böck et al. 2012): a new
        note rises in its own bands even where it fades in legato with no rise in loudness (a
        choir, bowed strings), which the mel flux averages away among the bands of its neighbours.
        Value t is the rise from frame t−1 to t, a frame before the mel envelopes hold it, so a
        struck note peaks on its start. The beats are tracked on it."""
        filters = log_filterbank(ANALYSIS_SR, N_FFT, NOTE_BANDS_PER_OCTAVE, NOTE_FMIN, NOTE_FMAX)
        bands = filters @ self._spectrum_with_lead_in[: filters.shape[1]]
        notes = np.log1p(np.float32(NOTE_LOG_GAIN) * bands)
        return self._envelope(self._rise(notes).mean(axis=0)[1:])

    @cached_property
    def accent_envelope(self) -> np.ndarray:
        """Flux of the mel magnitude, not its log: it keeps loud and soft hits apart, so an accented
        beat stands out from the unaccented one between."""
        return self._envelope(self._rise(np.sqrt(self._mel_power)).sum(axis=0))

    @staticmethod
    def _rise(spectrum: np.ndarray) -> np.ndarray:
        return np.maximum(np.diff(spectrum, axis=1), 0.0)

    def _envelope(self, rise: np.ndarray) -> np.ndarray:
        """Frame-aligned onset strength from a rise computed over the lead-in and the frames:
        value t is the rise from frame t−2 to t−1 (a 93 ms window centred on frame t−1 already
        holds half of an attack at frame t, so that is where the attack first shows). The rises
        out of the lead-in are capped at the largest later one: the start of a file is not a
        stronger attack than any in it."""
        envelope = np.zeros(self.n_frames, dtype=np.float32)
        if self.silent or rise.shape[-1] < LEAD_IN + 1:
            return envelope
        count = min(self.n_frames, rise.shape[-1])
        envelope[:count] = rise[:count]
        if self.n_frames > LEAD_IN + 1:
            envelope[: LEAD_IN + 1] = np.minimum(envelope[: LEAD_IN + 1], envelope[LEAD_IN + 1 :].max())
        return envelope


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa's default)."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))


def _mel_points(sr: float, n_mels: int) -> np.ndarray:
    return _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2), n_mels + 2))


def mel_centres(sr: float, n_mels: int) -> np.ndarray:
    """Centre frequencies (Hz) of the mel bands."""
    return _mel_points(sr, n_mels)[1:-1]


@lru_cache(maxsize=4)
def mel_filterbank(sr: float, n_fft: int, n_mels: int) -> np.ndarray:
    """(n_mels, n_fft//2+1) triangular, area-normalised mel filters (librosa's `filters.mel`)."""
    points = _mel_points(sr, n_mels)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    lower = (freqs[None, :] - points[:-2, None]) / np.diff(points)[:-1, None]
    upper = (points[2:, None] - freqs[None, :]) / np.diff(points)[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (points[2:] - points[:-2]))[:, None]
    return weights.astype(np.float32)


@lru_cache(maxsize=4)
def log_filterbank(sr: float, n_fft: int, bands_per_octave: int, fmin: float, fmax: float) -> np.ndarray:
    """(bands, bins) unit-area triangular filters centred `bands_per_octave` to the octave from
    `fmin` to `fmax`, each centre on an FFT bin, over the FFT bins up to the top of the highest
    band; where bins are wider than the bands (low frequencies) bands that would share a bin are
    merged into one."""
    resolution = sr / n_fft
    count = int(np.floor(bands_per_octave * np.log2(fmax / fmin))) + 1
    centres = fmin * 2.0 ** (np.arange(-1, count + 1) / bands_per_octave)
    centre_bins = np.unique(np.round(centres / resolution).astype(int))
    bins = np.arange(min(centre_bins[-1] + 1, n_fft // 2 + 1))
    filters = np.zeros((len(centre_bins) - 2, len(bins)), dtype=np.float32)
    for row, (lo, centre, hi) in enumerate(zip(centre_bins[:-2], centre_bins[1:-1], centre_bins[2:])):
        rising = (bins - lo) / (centre - lo)
        falling = (hi - bins) / (hi - centre)
        filters[row] = np.clip(np.minimum(rising, falling), 0.0, None)
    return filters / filters.sum(axis=1, keepdims=True)


def power_to_db(power: np.ndarray, floor: float = 1e-10, top_db: float = 80.0) -> np.ndarray:
    db = 10.0 * np.log10(np.maximum(power, floor))
    return np.maximum(db, db.max() - top_db) if db.size else db
