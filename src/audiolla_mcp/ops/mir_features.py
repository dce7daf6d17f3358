"""One analysis view of a signal, shared by every music-analysis op.

Tempo, key, chords, melody and structure all start from the same mono 22.05 kHz signal, the
same magnitude spectrogram and the same onset strength. `MusicFeatures` computes each of them on
first use and keeps it, so `analyze` pays for them once however many answers it gives; ops memoise
their own intermediate results (beat grid, chroma) on it through `memo`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cached_property
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
FRAME_RATE = ANALYSIS_SR / HOP
MIN_SR, MAX_SR = 4000, 384000
SILENCE_RMS = 1e-5  # −100 dBFS: below this a signal is treated as silent
REFERENCE_RMS = 0.1  # analysis runs on a copy at −20 dBFS RMS so results do not depend on level

STFT_BLOCK = 2048  # frames per FFT block: bounded memory and a cancellation point per block

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
    def mel_db(self) -> np.ndarray:
        import librosa

        mel = librosa.feature.melspectrogram(S=self.spectrogram**2 * (N_FFT / 2) ** 2, sr=self.sr, n_mels=128)
        return librosa.power_to_db(mel, ref=1.0, top_db=80.0)

    @cached_property
    def onset_envelope(self) -> np.ndarray:
        """Spectral flux of the log-mel spectrogram, averaged over bands (librosa's onset strength):
        sensitive to any attack, for onset detection."""
        return self._flux(self.mel_db, np.mean)

    @cached_property
    def pulse_envelope(self) -> np.ndarray:
        """The same flux with the median over bands: attacks that span the spectrum stand out and
        vibrato or slow swells do not, which is what tempo and beat tracking need."""
        return self._flux(self.mel_db, np.median)

    @cached_property
    def low_onset_envelope(self) -> np.ndarray:
        """Onset strength below ~200 Hz: kick drums and bass notes, which mark strong beats."""
        import librosa

        low = librosa.mel_frequencies(n_mels=130, fmax=self.sr / 2)[1:-1] < 200.0
        return self._flux(self.mel_db[low], np.mean)

    def _flux(self, mel_db: np.ndarray, aggregate: Callable[..., np.ndarray]) -> np.ndarray:
        import librosa

        if self.silent:
            return np.zeros(self.n_frames, dtype=np.float32)
        envelope = librosa.onset.onset_strength(S=mel_db, sr=self.sr, hop_length=HOP, aggregate=aggregate)
        # The flux peaks one frame after the attack it measures; align it with the attack.
        envelope = np.append(envelope[1:], 0.0)
        return envelope[: self.n_frames].astype(np.float32)
