"""Delivery checks: does a file meet a platform's loudness and format spec, and what would fix it.

Each spec is a list of criteria (integrated loudness with a tolerance, true-peak ceiling, and
for ACX audiobooks RMS, sample peak, noise floor, room tone, sample rate, channels and MP3
bitrate). Every criterion reports what was measured against what is required. Fixes are catalog
tool calls in the order they should run (format first, loudness last); each is simulated on a
copy of the audio and the result re-checked, so the fix list says whether it really works.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..errors import ToolError
from ..progress import NEVER, CancelToken, ProgressFn, no_progress
from .mir_features import Stages, check_audio

SpecName = Literal[
    "spotify", "apple_music", "youtube", "amazon_music", "tidal", "deezer",
    "apple_podcasts", "ebu_r128", "atsc_a85", "acx",
]
Severity = Literal["error", "warning"]

ACX_RMS_RANGE = (-23.0, -18.0)
ACX_RMS_AIM = -20.0
ACX_PEAK_MAX = -3.0
ACX_PEAK_AIM = -3.5
ACX_NOISE_MAX = -60.0
ACX_SAMPLE_RATE = 44100
ACX_MIN_MP3_KBPS = 192
ACX_HEAD_S = (0.5, 1.0)
ACX_TAIL_S = (1.0, 5.0)
NOISE_WINDOW_S = 0.05
NOISE_PERCENTILE = 5.0
ROOM_TONE_ABOVE_FLOOR_DB = 15.0  # a window this far above the noise floor is no longer room tone


@dataclass(frozen=True)
class Spec:
    title: str
    target_lufs: float | None = None
    tolerance_lu: float | None = None
    loudness_severity: Severity = "error"
    max_true_peak_dbtp: float | None = None
    audiobook: bool = False  # ACX rules instead of loudness rules
    note: str = ""


SPECS: dict[str, Spec] = {
    "spotify": Spec("Spotify", -14.0, 1.0, "warning", -1.0,
                    note="Spotify turns louder masters down to −14 LUFS; above −14 LUFS it asks for −2 dBTP."),
    "apple_music": Spec("Apple Music", -16.0, 1.0, "warning", -1.0, note="Sound Check levels to −16 LUFS."),
    "youtube": Spec("YouTube", -14.0, 1.0, "warning", -1.0, note="YouTube turns louder uploads down to −14 LUFS."),
    "amazon_music": Spec("Amazon Music", -14.0, 1.0, "warning", -2.0),
    "tidal": Spec("Tidal", -14.0, 1.0, "warning", -1.0),
    "deezer": Spec("Deezer", -15.0, 1.0, "warning", -1.0),
    "apple_podcasts": Spec("Apple Podcasts", -16.0, 1.0, "error", -1.0),
    "ebu_r128": Spec("EBU R128 broadcast", -23.0, 0.5, "error", -1.0, note="±1 LU is allowed for live programmes."),
    "atsc_a85": Spec("ATSC A/85 (US broadcast)", -24.0, 2.0, "error", -2.0),
    "acx": Spec("ACX / Audible audiobook", audiobook=True,
                note="Per chapter file: RMS −23…−18 dBFS, peaks ≤ −3 dBFS, noise floor ≤ −60 dBFS, 44.1 kHz, "
                     "mono or stereo throughout, MP3 at 192 kbps or more, 0.5–1 s room tone at the head and 1–5 s at the tail."),
}


@dataclass(frozen=True)
class Criterion:
    name: str
    measured: float | int | str | None
    required: str
    passed: bool | None  # None: could not be measured (e.g. silence)
    severity: Severity


@dataclass(frozen=True)
class Fix:
    tool: str
    arguments: dict
    reason: str
    fixes: tuple[str, ...]  # the criteria it addresses
    verified: bool | None = None  # True: they pass on the simulated result; None: not simulated


@dataclass(frozen=True)
class DeliveryReport:
    spec: str
    title: str
    verdict: Literal["pass", "pass_with_warnings", "fail"]
    criteria: list[Criterion]
    fixes: list[Fix]
    verdict_after_fixes: Literal["pass", "pass_with_warnings", "fail"] | None
    note: str
    summary: str = field(default="")


def _verdict(criteria: list[Criterion]) -> Literal["pass", "pass_with_warnings", "fail"]:
    if any(c.passed is False and c.severity == "error" for c in criteria):
        return "fail"
    if any(c.passed is False for c in criteria):
        return "pass_with_warnings"
    return "pass"


def _db(x: float) -> float:
    return 20 * float(np.log10(x)) if x > 0 else -150.0


def _window_rms_db(samples: np.ndarray, sr: int) -> np.ndarray:
    """RMS (dBFS) of consecutive 50 ms windows, all channels together."""
    hop = max(int(NOISE_WINDOW_S * sr), 1)
    n = samples.shape[1] // hop
    if n == 0:
        return np.array([_db(float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))))])
    power = (samples[:, : n * hop].astype(np.float64) ** 2).reshape(samples.shape[0], n, hop).mean(axis=(0, 2))
    return 10 * np.log10(np.maximum(power, 1e-15))


def _room_tone(levels: np.ndarray, floor_db: float) -> tuple[float, float]:
    """Seconds of room tone (near the noise floor) before the first and after the last sound."""
    loud = np.flatnonzero(levels > floor_db + ROOM_TONE_ABOVE_FLOOR_DB)
    if len(loud) == 0:
        return len(levels) * NOISE_WINDOW_S, len(levels) * NOISE_WINDOW_S
    return float(loud[0] * NOISE_WINDOW_S), float((len(levels) - 1 - loud[-1]) * NOISE_WINDOW_S)


def _loudness_criteria(spec: Spec, report: object, tolerance: float) -> list[Criterion]:
    integrated = report.integrated_lufs
    true_peak = report.true_peak_dbtp
    out = [
        Criterion(
            "integrated_loudness_lufs",
            integrated,
            f"{spec.target_lufs:g} ± {tolerance:g} LUFS",
            None if integrated is None else bool(abs(integrated - spec.target_lufs) <= tolerance + 1e-9),
            spec.loudness_severity,
        ),
        Criterion(
            "true_peak_dbtp",
            true_peak,
            f"≤ {spec.max_true_peak_dbtp:g} dBTP",
            None if true_peak is None else bool(true_peak <= spec.max_true_peak_dbtp + 1e-9),
            "error",
        ),
        Criterion("loudness_range_lu", report.loudness_range_lu, "informational", None, "warning"),
    ]
    return out


def _acx_criteria(samples: np.ndarray, sr: int, file_format: str | None, bitrate_kbps: float | None) -> list[Criterion]:
    rms = _db(float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))))
    peak = _db(float(np.max(np.abs(samples))))
    levels = _window_rms_db(samples, sr)
    floor = float(np.percentile(levels, NOISE_PERCENTILE))
    head, tail = _room_tone(levels, floor)
    is_mp3 = (file_format or "").lower() == "mp3"
    return [
        Criterion("rms_dbfs", round(rms, 2), f"{ACX_RMS_RANGE[0]:g} … {ACX_RMS_RANGE[1]:g} dBFS",
                  bool(ACX_RMS_RANGE[0] <= rms <= ACX_RMS_RANGE[1]), "error"),
        Criterion("peak_dbfs", round(peak, 2), f"≤ {ACX_PEAK_MAX:g} dBFS", bool(peak <= ACX_PEAK_MAX + 1e-9), "error"),
        Criterion("noise_floor_dbfs", round(floor, 2), f"≤ {ACX_NOISE_MAX:g} dBFS", bool(floor <= ACX_NOISE_MAX), "error"),
        Criterion("sample_rate_hz", int(sr), f"{ACX_SAMPLE_RATE} Hz", sr == ACX_SAMPLE_RATE, "error"),
        Criterion("channels", int(samples.shape[0]), "1 (mono) or 2 (stereo), the same for every file",
                  bool(samples.shape[0] in (1, 2)), "error"),
        Criterion("mp3_bitrate_kbps", bitrate_kbps if is_mp3 else None, f"≥ {ACX_MIN_MP3_KBPS} kbps when MP3",
                  None if not is_mp3 or bitrate_kbps is None else bool(bitrate_kbps >= ACX_MIN_MP3_KBPS), "error"),
        Criterion("head_room_tone_s", round(head, 2), f"{ACX_HEAD_S[0]:g} … {ACX_HEAD_S[1]:g} s",
                  bool(ACX_HEAD_S[0] <= head <= ACX_HEAD_S[1] + NOISE_WINDOW_S), "warning"),
        Criterion("tail_room_tone_s", round(tail, 2), f"{ACX_TAIL_S[0]:g} … {ACX_TAIL_S[1]:g} s",
                  bool(ACX_TAIL_S[0] <= tail <= ACX_TAIL_S[1] + NOISE_WINDOW_S), "warning"),
    ]


def _criteria(spec: Spec, samples: np.ndarray, sr: int, tolerance: float, file_format: str | None,
              bitrate_kbps: float | None, cancel: CancelToken) -> list[Criterion]:
    from . import loudness

    if spec.audiobook:
        return _acx_criteria(samples, sr, file_format, bitrate_kbps)
    return _loudness_criteria(spec, loudness.measure(samples, sr, cancel=cancel), tolerance)


def _failing(criteria: list[Criterion], *names: str) -> bool:
    return any(c.name in names and c.passed is False for c in criteria)


def _plan(spec: Spec, criteria: list[Criterion], samples: np.ndarray, sr: int, file_format: str | None) -> list[tuple[Fix, object]]:
    """Fixes in execution order, each with the function that simulates it on (samples, sr)
    (None where it cannot be simulated, e.g. an encoder setting)."""
    from . import loudness, restore
    from .resample import resample

    plan: list[tuple[Fix, object]] = []
    if not spec.audiobook:
        if _failing(criteria, "integrated_loudness_lufs", "true_peak_dbtp"):
            target, ceiling = spec.target_lufs, spec.max_true_peak_dbtp
            plan.append((Fix("normalize_loudness", {"target_lufs": target, "true_peak_db": ceiling},
                             f"bring loudness to {target:g} LUFS with true peaks under {ceiling:g} dBTP",
                             ("integrated_loudness_lufs", "true_peak_dbtp")),
                         lambda x, r: (loudness.normalize(x, r, target, ceiling)[0], r)))
        return plan
    if _failing(criteria, "channels"):
        plan.append((Fix("convert", {"channels": 2}, "ACX accepts mono or stereo only", ("channels",)),
                     lambda x, r: (np.stack([x[:2].mean(axis=0)] * 2), r)))
    if _failing(criteria, "sample_rate_hz"):
        plan.append((Fix("convert", {"sample_rate": ACX_SAMPLE_RATE}, "ACX wants 44.1 kHz", ("sample_rate_hz",)),
                     lambda x, r: (resample(x, r, ACX_SAMPLE_RATE), ACX_SAMPLE_RATE)))
    if _failing(criteria, "rms_dbfs", "peak_dbfs"):
        rms = _db(float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))))
        measured = loudness.measure(samples, sr).integrated_lufs
        if measured is not None:
            # normalize_loudness works in LUFS: aim where this recording's LUFS−RMS offset puts RMS at −20 dBFS.
            target = float(np.clip(round(ACX_RMS_AIM + (measured - rms), 1), -50.0, -5.0))
            plan.append((Fix("normalize_loudness", {"target_lufs": target, "true_peak_db": ACX_PEAK_AIM},
                             f"bring RMS to about {ACX_RMS_AIM:g} dBFS with peaks under {ACX_PEAK_MAX:g} dBFS",
                             ("rms_dbfs", "peak_dbfs")),
                         lambda x, r: (loudness.normalize(x, r, target, ACX_PEAK_AIM)[0], r)))
    if _failing(criteria, "noise_floor_dbfs"):  # after any gain change, which moves the floor too
        plan.append((Fix("reduce_noise", {"stationary": True, "strength": 0.9}, "noise floor above −60 dBFS",
                         ("noise_floor_dbfs",)),
                     lambda x, r: (restore.reduce_noise(x, r, stationary=True, strength=0.9), r)))
    if (file_format or "").lower() == "mp3" and _failing(criteria, "mp3_bitrate_kbps"):
        plan.append((Fix("convert", {"format": "mp3", "bitrate_kbps": ACX_MIN_MP3_KBPS}, "MP3 below 192 kbps",
                         ("mp3_bitrate_kbps",)), None))
    return plan


def check_delivery(
    samples: np.ndarray,
    sr: int,
    spec: str,
    *,
    live: bool = False,
    file_format: str | None = None,
    bitrate_kbps: float | None = None,
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> DeliveryReport:
    """Measure `samples` against a delivery spec; propose fixes and verify them on a copy.
    `file_format`/`bitrate_kbps` describe the source file (for ACX's MP3 rule); `live` widens
    EBU R128's tolerance to ±1 LU."""
    check_audio(samples, sr)
    if spec not in SPECS:
        raise ToolError(f"unknown delivery spec {spec!r}; choose one of {sorted(SPECS)}")
    chosen = SPECS[spec]
    tolerance = 1.0 if (spec == "ebu_r128" and live) else (chosen.tolerance_lu or 0.0)
    stages = Stages(3, progress, cancel)
    criteria = _criteria(chosen, samples, sr, tolerance, file_format, bitrate_kbps, cancel)
    stages("measured")
    verdict = _verdict(criteria)
    fixes: list[Fix] = []
    after_verdict = None
    plan = _plan(chosen, criteria, samples, sr, file_format) if verdict != "pass" else []
    if plan:
        fixed, fixed_sr = samples.astype(np.float32, copy=True), sr
        encoded_bitrate = bitrate_kbps
        for fix, simulate in plan:
            cancel.check()
            if simulate is None:
                encoded_bitrate = fix.arguments.get("bitrate_kbps", encoded_bitrate)
                fixes.append(fix)
                continue
            fixed, fixed_sr = simulate(fixed, fixed_sr)
            after = _criteria(chosen, fixed, fixed_sr, tolerance, file_format, bitrate_kbps, cancel)
            verified = all(c.passed is not False for c in after if c.name in fix.fixes)
            fixes.append(Fix(fix.tool, fix.arguments, fix.reason, fix.fixes, verified))
        stages("fixes simulated")
        after_verdict = _verdict(_criteria(chosen, fixed, fixed_sr, tolerance, file_format, encoded_bitrate, cancel))
    stages("done")
    failing = [c.name for c in criteria if c.passed is False]
    headline = {"pass": "Passes", "pass_with_warnings": "Passes with warnings", "fail": "Fails"}[verdict]
    summary = f"{headline} {chosen.title}" + (f" ({', '.join(failing)})" if failing else "") + "."
    if fixes:
        summary += f" {len(fixes)} fix(es): " + ", then ".join(f.tool for f in fixes)
        summary += f"; simulated result: {after_verdict}." if after_verdict else "."
    return DeliveryReport(
        spec=spec,
        title=chosen.title,
        verdict=verdict,
        criteria=criteria,
        fixes=fixes,
        verdict_after_fixes=after_verdict,
        note=chosen.note,
        summary=summary,
    )
