"""Time every editing, visual, tag and fingerprint op on 3 minutes of stereo 44.1 kHz audio.

Each op runs once cold (its first call in this process: imports, caches) and then `--repeats`
times warm; the table shows the cold time and the warm median. Target (issue 3): every op
≤ 1 s warm, no first call > 3 s (visualize_video is ffmpeg encoding 3 minutes of video and is
reported, not held to the target).
    .venv/bin/python bench/editing.py [--repeats 3] [--video]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))
from edit_signals import SR, ffmpeg_convert, music_track, write_wav

SECONDS = 180.0


def _times(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    start = time.perf_counter()
    run()
    cold = time.perf_counter() - start
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        warm.append(time.perf_counter() - start)
    return cold, statistics.median(warm)


def _cases(x, tmp: Path, video: bool) -> dict[str, Callable[[], object]]:
    from audiolla_mcp.ops import edit, fingerprint, tags, visualize
    from audiolla_mcp.ops import video as video_ops

    half = x.shape[-1] // 2
    wav = write_wav(tmp / "track.wav", x)
    mp3 = ffmpeg_convert(wav, tmp / "track.mp3", "-b:a", "192k")
    times = [i * 0.1 for i in range(1800)]
    curve = [-14.0 + (i % 50) / 10 for i in range(1800)]
    beats = [i * 0.5 for i in range(int(SECONDS * 2))]
    cases: dict[str, Callable[[], object]] = {
        "trim": lambda: edit.trim(x, SR, 30.0, 150.0),
        "fade (s_curve 10 s + 10 s)": lambda: edit.fade(x, SR, 10.0, 10.0, "s_curve"),
        "reverse": lambda: edit.reverse(x, SR),
        "loop (x2)": lambda: edit.loop(x, SR, 2),
        "concat (2 halves, 48k→44.1k, xfade)": lambda: edit.concat(
            [(x[:, :half], SR), (x[:, half:], 48000)], crossfade_s=2.0),
        "mix (3 tracks, pan, offset)": lambda: edit.mix(
            [(x, SR, -3.0, None, 0.0), (x[:1], SR, -6.0, -0.5, 1.0), (x[1:], SR, -6.0, 0.5, 2.0)]),
        "change_speed (x1.1)": lambda: edit.change_speed(x, SR, 1.1),
        "pan": lambda: edit.pan(x, SR, 0.3),
        "stereo_width": lambda: edit.stereo_width(x, SR, 1.5),
        "mid_side encode": lambda: edit.mid_side(x, SR, "encode"),
        "detect_silence": lambda: edit.detect_silence(x, SR, -50.0, 0.5),
        "split (silence)": lambda: edit.split(x, SR, "silence"),
        "strip_silence (all)": lambda: edit.strip_silence(x, SR, "all"),
        "slice_points_at_beats": lambda: edit.slice_points_at_beats(beats, SR, x.shape[-1], 4),
        "thumbnail (30 s)": lambda: edit.thumbnail(x, SR, 30.0),
        "spectrogram_png (log)": lambda: visualize.spectrogram_png(x, SR, scale="log"),
        "spectrogram_png (mel)": lambda: visualize.spectrogram_png(x, SR, scale="mel"),
        "waveform_png": lambda: visualize.waveform_png(x, SR),
        "loudness_png": lambda: visualize.loudness_png(times, curve, curve, -14.0),
        "write_tags + read (mp3)": lambda: tags.write_tags(mp3, tmp / "tagged.mp3", {"title": "t", "bpm": 120}),
        "fingerprint (wav)": lambda: fingerprint.fingerprint(wav),
        "fingerprint compare (wav vs mp3)": lambda: fingerprint.compare_fingerprints(
            fingerprint.fingerprint(wav).fingerprint, fingerprint.fingerprint(mp3).fingerprint),
    }
    if video:
        cases["visualize_video (waves 640x360@25)"] = lambda: video_ops.visualize_video(
            wav, tmp / "v.mp4", "waves", 640, 360, 25)
    return cases


def main(repeats: int, video: bool) -> None:
    x = music_track(SECONDS)
    print(f"3-min stereo {SR} Hz, {repeats} warm runs each\n")
    print(f"{'op':40s} {'first call s':>12s} {'warm s':>8s}  ≤1 s warm")
    with tempfile.TemporaryDirectory() as folder:
        for name, run in _cases(x, Path(folder), video).items():
            cold, warm = _times(run, 1 if name.startswith("visualize_video") else repeats)
            print(f"{name:40s} {cold:12.3f} {warm:8.3f}  {'yes' if warm <= 1.0 else 'NO'}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--video", action="store_true", help="also render a 3-minute visualizer video")
    args = parser.parse_args()
    main(args.repeats, args.video)
