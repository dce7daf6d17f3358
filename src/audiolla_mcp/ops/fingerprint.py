"""Acoustic fingerprints (Chromaprint, the AcoustID format) through the `fpcalc` tool, and a
similarity measure between two recordings based on them."""

from __future__ import annotations

import base64
import binascii
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ToolError

ITEM_S = 4096 / 3 / 11025
"""Time step of one 32-bit fingerprint item (Chromaprint analyses 11025 Hz audio)."""

SAME_RECORDING = 0.85
"""Similarity from which two fingerprints are taken to be the same recording."""


@dataclass(frozen=True)
class Fingerprint:
    duration_s: float
    fingerprint: str
    """Compressed, base64 Chromaprint fingerprint as AcoustID look-ups take it."""


def _fpcalc(path: Path, length_s: int) -> dict:
    cmd = ["fpcalc", "-json", "-length", str(length_s), str(path)]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
    except FileNotFoundError:
        raise ToolError(
            "fpcalc is not installed; install Chromaprint's tools (Debian: libchromaprint-tools)."
        ) from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"fingerprinting {path.name} took too long; try a shorter length_s.") from None
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError:
        data = {}
    # fpcalc 1.5 with FFmpeg 5 exits non-zero at the end of any file shorter than -length
    # ("Error decoding audio frame (End of file)") yet prints a valid result: trust the JSON.
    if not data.get("fingerprint"):
        reason = (result.stderr.strip().splitlines() or ["no fingerprint"])[-1].removeprefix("ERROR: ")
        raise ToolError(
            f"cannot fingerprint {path.name} ({reason}): Chromaprint needs audio with at least "
            "about 3 seconds of sound; silence and very short clips give no fingerprint."
        )
    return data


def fingerprint(path: Path, length_s: int = 120) -> Fingerprint:
    """Chromaprint of the first `length_s` seconds (0 = whole file) and the file's duration."""
    if length_s < 0:
        raise ToolError("length_s must be >= 0 (0 = the whole file).")
    data = _fpcalc(path, length_s)
    return Fingerprint(round(float(data["duration"]), 3), data["fingerprint"])


def _unpack(data: bytes, width: int) -> np.ndarray:
    """Little-endian bit-packed unsigned integers of `width` bits."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    usable = bits[: bits.size - bits.size % width].reshape(-1, width)
    return usable @ (1 << np.arange(width))


def decode_fingerprint(fingerprint: str) -> np.ndarray:
    """The raw items (uint32, one per ≈ 124 ms) of a compressed Chromaprint fingerprint.

    Layout (chromaprint's fingerprint_compressor): base64url of [algorithm byte, item count as
    24-bit big-endian, 3-bit codes, 5-bit exception codes]. Each item is XOR-ed with the previous
    one; its set bits are coded as gaps (1–6, 7 = "7 + next exception code"), 0 ends the item.
    """
    try:
        data = base64.b64decode(fingerprint + "=" * (-len(fingerprint) % 4), altchars=b"-_", validate=True)
    except (ValueError, binascii.Error):
        raise ToolError("not a Chromaprint fingerprint (base64 expected).") from None
    if len(data) < 4:
        raise ToolError("not a Chromaprint fingerprint (too short).")
    count = int.from_bytes(data[1:4], "big")
    codes = _unpack(data[4:], 3)
    ends = np.flatnonzero(codes == 0)
    if ends.size < count:
        raise ToolError("the Chromaprint fingerprint is truncated.")
    used = int(ends[count - 1]) + 1 if count else 0
    exceptions = iter(_unpack(data[4 + -(-used * 3 // 8) :], 5).tolist())
    items = np.zeros(count, dtype=np.uint32)
    previous, bit, value, item = 0, 0, 0, 0
    for code in codes[:used].tolist():
        if code == 0:
            previous ^= value
            items[item] = previous
            item, bit, value = item + 1, 0, 0
            continue
        bit += code + (next(exceptions, 0) if code == 7 else 0)
        value |= 1 << (bit - 1)
    return items


def compare_fingerprints(a: str, b: str, max_offset: int = 24) -> float:
    """Similarity in [0, 1] of two fingerprints: 1 − bit error rate of the overlapping
    items, at the best alignment within ±`max_offset` items (±3 s by default). Identical audio
    scores 1, the same recording re-encoded typically above 0.95; unrelated audio lands around
    0.5–0.65 (fingerprint bits are not independent), hence `SAME_RECORDING`."""
    a, b = decode_fingerprint(a), decode_fingerprint(b)
    min_overlap = max(1, min(len(a), len(b)) // 2)
    best = 0.0
    for shift in range(-max_offset, max_offset + 1):
        x = a[max(0, shift):]
        y = b[max(0, -shift):]
        n = min(len(x), len(y))
        if n < min_overlap:
            continue
        errors = int(np.bitwise_count(x[:n] ^ y[:n]).sum())
        best = max(best, 1.0 - errors / (32 * n))
    return round(best, 4)
