"""Song structure: sections with A/B/C labels.

Each beat is described by its harmony (chroma) and timbre (MFCC), smoothed over a few beats so
that one bar reads as one texture; k-means groups beats into section types (k chosen by how
well the clusters separate, or given), runs of one type become sections, and sections shorter
than a minimum are absorbed by a neighbour. Labels are letters in order of first appearance, so
a verse–chorus song reads A B A B C B.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ToolError
from ..progress import NEVER, CancelToken, ProgressFn, no_progress
from .mir_features import MusicFeatures, Stages

MAX_AUTO_TYPES = 6
N_MFCC = 13
SMOOTH_BEATS = 12
MIN_SECTION_S = 4.0
FALLBACK_STEP_S = 0.5
MIN_FRAMES = 12
SILHOUETTE_TOLERANCE = 0.02


@dataclass(frozen=True)
class StructureResult:
    sections: list[dict]  # {start, end, label}
    section_count: int
    labels: list[str]
    form: str  # e.g. "ABABCB"
    summary: str


def _frames(features: MusicFeatures) -> np.ndarray:
    """Segment starts: beats where a beat grid exists, else a fixed step."""
    from .beats import beat_grid

    grid = beat_grid(features)
    if len(grid.beats) >= MIN_FRAMES:
        return np.concatenate([[0.0], grid.beats[grid.beats > 0.05]])
    return np.arange(0.0, features.duration_s, FALLBACK_STEP_S)


def _sync(data: np.ndarray, frames: np.ndarray, aggregate) -> np.ndarray:
    """Aggregate columns of `data` over [frames[i], frames[i+1]) (the last to the end)."""
    bounds = np.append(frames, data.shape[1])
    return np.stack([aggregate(data[:, a:max(b, a + 1)], axis=1) for a, b in zip(bounds[:-1], bounds[1:])], axis=1)


def _synced(features: MusicFeatures, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Beat-synchronous chroma (12) and MFCC (13) of the segments starting at `starts`."""
    import scipy.fft

    from .chroma import log_frequency_spectrum

    spectrum, _ = log_frequency_spectrum(features)
    pitch_classes = (np.arange(spectrum.shape[0]) + 1) // 3 % 12
    chroma = np.zeros((12, spectrum.shape[1]))
    np.add.at(chroma, pitch_classes, spectrum)
    chroma = chroma / (chroma.max(axis=0, keepdims=True) + 1e-9)
    mfcc = scipy.fft.dct(features.mel_db, type=2, norm="ortho", axis=0)[:N_MFCC]
    frames = np.unique(np.clip(MusicFeatures.time_frames(starts), 0, features.n_frames - 1))
    return _sync(chroma, frames, np.median), _sync(mfcc, frames, np.mean)


def _beat_features(chroma: np.ndarray, mfcc: np.ndarray) -> np.ndarray:
    """Rows: beats; columns: standardised chroma and MFCC averaged over SMOOTH_BEATS beats."""
    import scipy.ndimage

    stacked = np.vstack([chroma, mfcc]).T
    smoothed = scipy.ndimage.uniform_filter1d(stacked, size=SMOOTH_BEATS, axis=0, mode="nearest")
    spread = smoothed.std(axis=0)
    return (smoothed - smoothed.mean(axis=0)) / np.where(spread > 1e-9, spread, 1.0)


def _cluster(x: np.ndarray, k: int) -> np.ndarray:
    """k-means (best of a few seeded runs)."""
    from scipy.cluster.vq import kmeans2

    best, best_inertia = np.zeros(len(x), dtype=int), np.inf
    for seed in range(4):
        centroids, labels = kmeans2(x, k, seed=seed, minit="++")
        inertia = float(np.sum((x - centroids[labels]) ** 2))
        if inertia < best_inertia:
            best, best_inertia = labels, inertia
    return best


def _silhouette(distances: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette: how much closer each beat is to its own type than to the nearest other."""
    types = np.unique(labels)
    if len(types) < 2:
        return -1.0
    mean_to = np.stack([distances[:, labels == t].mean(axis=1) for t in types], axis=1)
    own = np.searchsorted(types, labels)
    counts = np.bincount(own, minlength=len(types))
    a = mean_to[np.arange(len(labels)), own] * counts[own] / np.maximum(counts[own] - 1, 1)
    mean_to[np.arange(len(labels)), own] = np.inf
    b = mean_to.min(axis=1)
    return float(np.mean((b - a) / np.maximum(np.maximum(a, b), 1e-12)))


def _auto_types(x: np.ndarray, max_types: int) -> int:
    """The fewest section types whose silhouette is within SILHOUETTE_TOLERANCE of the best: a
    finer split has to separate clearly better, not by the few beats its boundaries shift."""
    distances = np.linalg.norm(x[:, None, :] - x[None, :, :], axis=2)
    scores = np.array([_silhouette(distances, _cluster(x, k)) for k in range(2, max_types + 1)])
    return 2 + int(np.flatnonzero(scores >= scores.max() - SILHOUETTE_TOLERANCE)[0])


def _sections(starts: np.ndarray, labels: np.ndarray, duration: float, min_section_s: float) -> list[list]:
    """Runs of one label; runs shorter than `min_section_s` are absorbed by a neighbour."""
    runs: list[list] = []  # [start, end, label]
    for i, label in enumerate(labels):
        start = float(starts[i])
        end = float(starts[i + 1]) if i + 1 < len(starts) else duration
        if runs and runs[-1][2] == label:
            runs[-1][1] = end
        else:
            runs.append([start, end, int(label)])
    changed = True
    while changed and len(runs) > 1:
        changed = False
        shortest = min(range(len(runs)), key=lambda i: runs[i][1] - runs[i][0])
        if runs[shortest][1] - runs[shortest][0] >= min_section_s:
            break
        i = shortest
        neighbour = i - 1 if i > 0 and (i + 1 >= len(runs) or runs[i - 1][1] - runs[i - 1][0] >= runs[i + 1][1] - runs[i + 1][0]) else i + 1
        lo, hi = sorted((i, neighbour))
        runs[lo] = [runs[lo][0], runs[hi][1], runs[neighbour][2]]
        del runs[hi]
        merged = []
        for run in runs:
            if merged and merged[-1][2] == run[2]:
                merged[-1][1] = run[1]
            else:
                merged.append(run)
        runs = merged
        changed = True
    return runs


def _letters(runs: list[list]) -> list[str]:
    """Cluster ids → A, B, C… in order of first appearance."""
    names: dict[int, str] = {}
    for _, _, label in runs:
        names.setdefault(label, chr(ord("A") + len(names)) if len(names) < 26 else f"S{len(names)}")
    return [names[label] for _, _, label in runs]


def segment_structure(
    samples: np.ndarray,
    sr: int,
    *,
    section_types: int | None = None,
    min_section_s: float = MIN_SECTION_S,
    features: MusicFeatures | None = None,
    progress: ProgressFn = no_progress,
    cancel: CancelToken = NEVER,
) -> StructureResult:
    """Sections with letter labels; `section_types` fixes how many distinct letters (else chosen
    from the data, 2–6)."""
    if section_types is not None and not 1 <= section_types <= 12:
        raise ToolError("section_types must be between 1 and 12")
    if min_section_s < 0:
        raise ToolError("min_section_s must be >= 0")
    stages = Stages(3, progress, cancel)
    features = features or MusicFeatures(samples, sr, cancel)
    duration = features.duration_s
    starts = _frames(features)
    stages("beats")
    if features.silent or len(starts) < MIN_FRAMES or section_types == 1:
        runs = [[0.0, duration, 0]]
    else:
        chroma, mfcc = _synced(features, starts)
        starts = starts[: chroma.shape[1]]
        stages("features")
        x = _beat_features(chroma, mfcc)
        k = section_types or _auto_types(x, min(MAX_AUTO_TYPES, max(2, len(starts) // 8)))
        runs = _sections(starts, _cluster(x, min(k, len(starts) - 1)), duration, min_section_s)
    stages("sections")
    letters = _letters(runs)
    sections = [{"start": round(s, 3), "end": round(e, 3), "label": letter} for (s, e, _), letter in zip(runs, letters)]
    form = "".join(letters) if all(len(x) == 1 for x in letters) else "-".join(letters)
    return StructureResult(
        sections=sections,
        section_count=len(sections),
        labels=sorted(set(letters)),
        form=form,
        summary=f"{len(sections)} sections, form {form}.",
    )


