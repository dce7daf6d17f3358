"""A workspace beside an "outside" folder full of bait, and the corpus of escape attempts.

The bait: files outside, links inside that point out (file, folder, relative, dangling, up the
tree, into the server's internal folder), a hard link and a FIFO. Nothing any call does may read,
change or add to the outside.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
import soundfile as sf

SEED_AUDIO = "seed.wav"
SEED_MIDI = "seed.mid"
SEED_FOLDER = "seeds"


MODELS_DIR = "models"
SECRET_SECONDS = 0.8125
"""Bait audio has this unusual length, so a reply that read it would show it."""


def write_tone(path: Path, seconds: float, sr: int = 44100, channels: int = 2, freq: float = 440.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(round(seconds * sr), dtype=np.float32) / sr
    tone = (0.25 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    sf.write(str(path), np.tile(tone, (channels, 1)).T, sr, subtype="PCM_16")
    return path


def write_seed(path: Path, seconds: float = 3.0, sr: int = 44100) -> Path:
    """A tone with a click every half second: long enough for chromaprint, with a beat to find."""
    write_tone(path, seconds, sr)
    data, _ = sf.read(str(path), dtype="float32")
    burst = int(0.03 * sr)
    click = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(burst) / sr) * np.exp(-np.arange(burst) / (0.01 * sr))
    for start in range(0, len(data) - burst, sr // 2):
        data[start:start + burst] += click[:, None].astype(np.float32)
    sf.write(str(path), data, sr, subtype="PCM_16")
    return path


def write_midi(path: Path, notes: tuple[int, ...] = (60, 64, 67)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    song = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    song.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500000))
    for note in notes:
        track.append(mido.Message("note_on", note=note, velocity=90, time=0))
        track.append(mido.Message("note_off", note=note, velocity=0, time=240))
    song.save(str(path))
    return path


@dataclass
class Sandbox:
    """A workspace beside an 'outside' folder that no call may read, change or add to."""

    root: Path
    workspace: Path
    outside: Path

    @classmethod
    def create(cls, root: Path) -> Sandbox:
        workspace, outside = root / "workspace", root / "outside"
        box = cls(root=root, workspace=workspace, outside=outside)
        write_tone(outside / "secret.wav", SECRET_SECONDS, freq=997.0)
        write_midi(outside / "secret.mid", notes=(61, 66))
        (outside / "secret.txt").write_text("outside the workspace\n")
        (outside / "dir").mkdir()
        write_tone(outside / "dir" / "secret.wav", SECRET_SECONDS, freq=997.0)
        write_seed(workspace / SEED_AUDIO)
        write_seed(workspace / SEED_FOLDER / SEED_AUDIO)
        write_midi(workspace / SEED_MIDI)
        box.plant_links()
        return box

    def plant_links(self) -> None:
        """Links that someone with file-system access might leave inside the workspace."""
        ws, out = self.workspace, self.outside
        for ext in ("wav", "mid"):
            (ws / f"link_file.{ext}").symlink_to(out / f"secret.{ext}")
            os.link(out / f"secret.{ext}", ws / f"hard.{ext}")
            (ws / f"dangling.{ext}").symlink_to(out / f"new.{ext}")
            (ws / f"relative_link.{ext}").symlink_to(Path("..") / "outside" / f"secret.{ext}")
        (ws / "link_dir").symlink_to(out, target_is_directory=True)
        (ws / "sub").mkdir()
        (ws / "sub" / "up").symlink_to(Path("..") / "..", target_is_directory=True)
        (ws / "internal").symlink_to(ws / ".audiolla", target_is_directory=True)
        (ws / ".audiolla").mkdir(exist_ok=True)
        os.mkfifo(ws / "fifo.wav")

    def snapshot(self) -> dict[str, tuple[int, int, str]]:
        """Everything under the sandbox root except the workspace: (size, mtime, sha1) by path."""
        state: dict[str, tuple[int, int, str]] = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            if Path(dirpath) == self.root:
                dirnames[:] = [d for d in dirnames if d not in (self.workspace.name, MODELS_DIR)]
            for name in [*filenames, *dirnames]:
                path = Path(dirpath) / name
                info = path.lstat()
                digest = hashlib.sha1(path.read_bytes()).hexdigest() if path.is_file() and not path.is_symlink() else ""
                state[path.relative_to(self.root).as_posix()] = (info.st_size, info.st_mtime_ns, digest)
        return state

    def leftovers(self) -> list[str]:
        """Temp files left in the workspace (outside the server's own state folder)."""
        return sorted(
            p.relative_to(self.workspace).as_posix()
            for p in self.workspace.rglob(".tmp-*")
            if not p.relative_to(self.workspace).as_posix().startswith(".audiolla/")
        )


# -- the escape corpus ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    template: str

    def value(self, box: Sandbox, ext: str) -> str:
        return self.template.format(ext=ext, outside=box.outside, ws=box.workspace)


CORPUS: tuple[Case, ...] = (
    # dot-dot traversal
    Case("dotdot", "../outside/secret.{ext}"),
    Case("dotdot-deep", "../../../../../../etc/passwd"),
    Case("dotdot-after-dir", "seeds/../../outside/secret.{ext}"),
    Case("dotdot-dot", "./../outside/secret.{ext}"),
    Case("dotdot-nested", "a/b/../../../outside/secret.{ext}"),
    Case("dotdot-bare", ".."),
    Case("dotdot-slash", "../"),
    Case("dotdot-dot-segments", "seeds/./.././../outside/secret.{ext}"),
    # absolute and home
    Case("absolute-bait", "{outside}/secret.{ext}"),
    Case("absolute-etc", "/etc/passwd"),
    Case("absolute-double-slash", "//etc/passwd"),
    Case("absolute-workspace", "{ws}/seed.{ext}"),
    Case("absolute-dev", "/dev/zero"),
    Case("absolute-proc", "/proc/self/environ"),
    Case("root", "/"),
    Case("home", "~/secret.{ext}"),
    Case("home-user", "~root/.bashrc"),
    # URLs and workspace:// variants
    Case("file-url", "file://{outside}/secret.{ext}"),
    Case("http-url", "http://127.0.0.1:9/secret.{ext}"),
    Case("uri-dotdot", "workspace://../outside/secret.{ext}"),
    Case("uri-absolute", "workspace:///etc/passwd"),
    Case("uri-upper-encoded", "WORKSPACE://..%2Foutside%2Fsecret.{ext}"),
    Case("uri-encoded-dots", "workspace://%2e%2e/outside/secret.{ext}"),
    Case("uri-double-encoded", "workspace://%252e%252e/outside/secret.{ext}"),
    Case("uri-encoded-nul", "workspace://seed.wav%00.{ext}"),
    Case("uri-link", "workspace://link_dir/secret.{ext}"),
    Case("encoded-plain", "%2e%2e%2foutside%2fsecret.{ext}"),
    Case("encoded-slash", "..%2foutside%2fsecret.{ext}"),
    # Windows forms
    Case("backslash-dotdot", "..\\outside\\secret.{ext}"),
    Case("backslash-mixed", "seeds\\..\\..\\outside/secret.{ext}"),
    Case("drive", "C:\\Windows\\win.ini"),
    Case("drive-slash", "C:/Windows/win.ini"),
    Case("unc", "\\\\server\\share\\secret.{ext}"),
    # control characters
    Case("nul", "seed.wav\x00.{ext}"),
    Case("nul-only", "\x00"),
    Case("newline", "seed\n.{ext}"),
    # sizes and emptiness
    Case("overlong-name", "a" * 300 + ".{ext}"),
    Case("overlong-path", ("d" * 200 + "/") * 6 + "x.{ext}"),
    Case("blank", "   "),
    Case("dot", "."),
    # Unicode look-alikes
    Case("fullwidth-dots", "\uff0e\uff0e/outside/secret.{ext}"),
    Case("two-dot-leader", "\u2025/outside/secret.{ext}"),
    Case("fullwidth-all", "\uff0e\uff0e\uff0foutside\uff0fsecret.{ext}"),
    Case("fullwidth-root", "\uff0fetc\uff0fpasswd"),
    Case("small-full-stops", "\ufe52\ufe52/outside/secret.{ext}"),
    Case("one-dot-leaders", "\u2024\u2024/outside/secret.{ext}"),
    # links and special files planted inside the workspace
    Case("symlink-file", "link_file.{ext}"),
    Case("symlink-relative", "relative_link.{ext}"),
    Case("symlink-dir", "link_dir/secret.{ext}"),
    Case("symlink-dir-bare", "link_dir"),
    Case("symlink-up", "sub/up/outside/secret.{ext}"),
    Case("symlink-dangling", "dangling.{ext}"),
    Case("symlink-internal", "internal/jobs/x.json"),
    Case("hard-link", "hard.{ext}"),
    Case("fifo", "fifo.wav"),
    Case("hidden-internal", ".audiolla/jobs/x.json"),
)


def seed_base64(box: Sandbox) -> str:
    return base64.b64encode((box.workspace / SEED_AUDIO).read_bytes()).decode()
