"""Read and write metadata tags with one vocabulary across containers (mutagen).

The common names (`TAG_NAMES`) map to ID3 frames in mp3/wav/aiff, Vorbis comments in
flac/ogg/opus, and MP4 atoms in m4a. Values are strings on both sides; `tracknumber` and
`discnumber` accept "3" or "3/12".
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mutagen
from mutagen import id3
from mutagen.aiff import AIFF
from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4, MP4FreeForm
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from ..errors import ToolError

TAG_NAMES: tuple[str, ...] = (
    "title", "artist", "album", "albumartist", "date", "genre", "tracknumber", "discnumber",
    "comment", "bpm", "key", "isrc", "composer",
)

_ID3_FRAMES = {
    "title": "TIT2", "artist": "TPE1", "album": "TALB", "albumartist": "TPE2", "date": "TDRC",
    "genre": "TCON", "tracknumber": "TRCK", "discnumber": "TPOS", "bpm": "TBPM", "key": "TKEY",
    "isrc": "TSRC", "composer": "TCOM",
}  # comment: COMM, handled apart (it has a language and a description)
_VORBIS_KEYS = {name: name.upper() for name in TAG_NAMES}
_MP4_ATOMS = {
    "title": "©nam", "artist": "©ART", "album": "©alb", "albumartist": "aART", "date": "©day",
    "genre": "©gen", "comment": "©cmt", "composer": "©wrt",
}  # tracknumber trkn, discnumber disk, bpm tmpo: numbers; key and isrc: iTunes freeform
_MP4_FREEFORM = {"key": "----:com.apple.iTunes:initialkey", "isrc": "----:com.apple.iTunes:ISRC"}
_MP4_PAIRS = {"tracknumber": "trkn", "discnumber": "disk"}


def _open(path: Path) -> mutagen.FileType:
    try:
        audio = mutagen.File(path)
    except mutagen.MutagenError as exc:
        raise ToolError(f"cannot read tags of {path.name}: {exc}") from None
    if audio is None:
        raise ToolError(
            f"{path.name} is not a file whose tags can be read (wav, mp3, flac, ogg, opus, m4a, "
            "aiff)."
        )
    return audio


def _kind(audio: mutagen.FileType) -> str:
    if isinstance(audio, (MP3, WAVE, AIFF)):
        return "id3"
    if isinstance(audio, (FLAC, OggVorbis, OggOpus)):
        return "vorbis"
    if isinstance(audio, MP4):
        return "mp4"
    raise ToolError(f"tags of {type(audio).__name__} files are not supported.")


def read_tags(path: Path) -> dict[str, str]:
    """The file's tags in the common vocabulary; names it does not carry are left out."""
    audio = _open(path)
    tags = audio.tags
    if tags is None:
        return {}
    reader = {"id3": _read_id3, "vorbis": _read_vorbis, "mp4": _read_mp4}[_kind(audio)]
    return {k: v for k, v in reader(tags).items() if v != ""}


def _read_id3(tags: id3.ID3) -> dict[str, str]:
    out = {name: str(tags[frame]) for name, frame in _ID3_FRAMES.items() if frame in tags}
    comments = tags.getall("COMM")
    if comments:
        out["comment"] = str(comments[0])
    return out


def _read_vorbis(tags) -> dict[str, str]:
    return {name: tags[key][0] for name, key in _VORBIS_KEYS.items() if key in tags}


def _read_mp4(tags) -> dict[str, str]:
    out = {name: str(tags[atom][0]) for name, atom in _MP4_ATOMS.items() if atom in tags}
    for name, atom in _MP4_FREEFORM.items():
        if atom in tags:
            out[name] = bytes(tags[atom][0]).decode("utf-8", "replace")
    for name, atom in _MP4_PAIRS.items():
        if atom in tags:
            number, total = tags[atom][0]
            out[name] = f"{number}/{total}" if total else str(number)
    if "tmpo" in tags:
        out["bpm"] = str(tags["tmpo"][0])
    return out


def _clean(tags: dict[str, object]) -> dict[str, str | None]:
    """Validate names and turn values into strings; None or "" means remove the tag."""
    unknown = sorted(set(tags) - set(TAG_NAMES))
    if unknown:
        raise ToolError(
            f"unknown tag name(s) {', '.join(unknown)}; use {', '.join(TAG_NAMES)}."
        )
    out: dict[str, str | None] = {}
    for name, value in tags.items():
        text = None if value is None else str(value).strip()
        if text and name in _MP4_PAIRS and not _is_position(text):
            raise ToolError(f"{name} must look like '3' or '3/12' (got {text!r}).")
        if text and name == "bpm" and not _is_number(text):
            raise ToolError(f"bpm must be a number (got {text!r}).")
        out[name] = text or None
    return out


def _is_number(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


def _is_position(text: str) -> bool:
    parts = text.split("/")
    return len(parts) <= 2 and all(p.isdigit() for p in parts)


def write_tags(src_path: Path, dst_path: Path, tags: dict[str, object]) -> dict[str, str]:
    """Copy `src_path` to `dst_path` (unless they are the same file) and set `tags` there;
    other tags are kept. Returns the tags `dst_path` now has."""
    values = _clean(tags)
    audio = _open(src_path)  # refuses unsupported files before anything is copied
    kind = _kind(audio)
    copied = Path(src_path).resolve() != Path(dst_path).resolve()
    if copied:
        shutil.copyfile(src_path, dst_path)
    try:
        audio = _open(dst_path)
        if audio.tags is None:
            audio.add_tags()
        {"id3": _write_id3, "vorbis": _write_vorbis, "mp4": _write_mp4}[kind](audio.tags, values)
        audio.save()
    except mutagen.MutagenError as exc:
        if copied:
            Path(dst_path).unlink(missing_ok=True)
        raise ToolError(f"cannot write tags to {Path(dst_path).name}: {exc}") from None
    return read_tags(dst_path)


def _write_id3(tags: id3.ID3, values: dict[str, str | None]) -> None:
    for name, text in values.items():
        if name == "comment":
            tags.delall("COMM")
            if text:
                tags.add(id3.COMM(encoding=3, lang="eng", desc="", text=[text]))
            continue
        frame = _ID3_FRAMES[name]
        tags.delall(frame)
        if text:
            tags.add(getattr(id3, frame)(encoding=3, text=[text]))


def _write_vorbis(tags, values: dict[str, str | None]) -> None:
    for name, text in values.items():
        key = _VORBIS_KEYS[name]
        if key in tags:
            del tags[key]
        if text:
            tags[key] = [text]


def _write_mp4(tags, values: dict[str, str | None]) -> None:
    for name, text in values.items():
        atom = (_MP4_ATOMS.get(name) or _MP4_FREEFORM.get(name) or _MP4_PAIRS.get(name)
                or "tmpo")
        if atom in tags:
            del tags[atom]
        if not text:
            continue
        if name in _MP4_PAIRS:
            number, _, total = text.partition("/")
            tags[atom] = [(int(number), int(total or 0))]
        elif name == "bpm":
            tags[atom] = [round(float(text))]
        elif name in _MP4_FREEFORM:
            tags[atom] = [MP4FreeForm(text.encode("utf-8"))]
        else:
            tags[atom] = [text]
