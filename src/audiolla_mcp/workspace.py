"""The only file system the tools see.

Every path a client gives is relative to the workspace root (or a `workspace://` URI) and is
checked before use: no absolute paths, no `..`, no hidden or internal names (also not through a
link), no NUL or control characters, no percent-encoded dots or separators, no Windows separators
or drive letters, no symlink or hard-link escape, no device files, no overlong names. Files are
written atomically (hidden temp file + rename; temp files orphaned by a crash are removed at the
next start), never overwrite an existing file unless asked, and count against an optional quota.
"""

from __future__ import annotations

import contextlib
import fnmatch
import mimetypes
import os
import re
import stat
import tempfile
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from .errors import ToolError

URI_SCHEME = "workspace://"
TEMP_PREFIX = ".tmp-"
INTERNAL_DIR = ".audiolla"
MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 1024

_MIME_OVERRIDES = {
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".aif": "audio/aiff",
    ".aiff": "audio/aiff",
    ".mid": "audio/midi",
    ".midi": "audio/midi",
    ".sf2": "audio/x-soundfont",
    ".sf3": "audio/x-soundfont",
    ".png": "image/png",
    ".json": "application/json",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".txt": "text/plain",
}
_DRIVE = re.compile(r"^[A-Za-z]:")
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_ENCODED_UNSAFE = re.compile(r"%(?:2e|2f|5c|[01][0-9a-f]|7f)", re.IGNORECASE)
"""A percent-encoded dot, separator or control character left after decoding: never a real name."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def megabytes(n_bytes: float) -> str:
    """A size or a cap for messages, in the settings' MB (MiB): '0.25 MB', '10 MB', '2048 MB'."""
    value = n_bytes / (1024 * 1024)
    return f"{value:.3g} MB" if value < 1000 else f"{value:.0f} MB"


def mime_type(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    return _MIME_OVERRIDES.get(suffix) or mimetypes.guess_type(str(path))[0] or "application/octet-stream"


@dataclass(frozen=True)
class FileEntry:
    path: str
    uri: str
    bytes: int
    mime_type: str
    modified: float


class Workspace:
    """A directory tree that tools read from and write into."""

    def __init__(self, root: Path, *, quota_bytes: int | None = None, max_file_bytes: int | None = None):
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.quota_bytes = quota_bytes
        self.max_file_bytes = max_file_bytes
        self.remove_orphaned_temp_files()

    @property
    def internal_dir(self) -> Path:
        """Server state (job records, caches) that clients cannot reach through paths."""
        path = self.root / INTERNAL_DIR
        path.mkdir(exist_ok=True)
        return path

    # -- paths ------------------------------------------------------------------------------

    def relative(self, path: str, *, what: str = "path") -> str:
        """Validate a client path and return its normalised workspace-relative form."""
        if not isinstance(path, str) or not path.strip():
            raise ToolError(f"The {what} is empty; give a path inside the workspace, e.g. 'song.wav'.")
        text = path
        if text.lower().startswith(URI_SCHEME):
            text = unquote(text[len(URI_SCHEME) :])
        elif "://" in text:
            raise ToolError(
                f"The {what} {path!r} is a URL; only workspace paths or workspace:// URIs are accepted."
            )
        if _UNSAFE_CHARS.search(text):
            raise ToolError(
                f"The {what} {path!r} contains a control character or a backslash; use '/' between folders."
            )
        if _ENCODED_UNSAFE.search(text):
            raise ToolError(
                f"The {what} {path!r} contains a URL-encoded '.', '/', '\\' or control character; write the name plainly."
            )
        if text.startswith("/") or _DRIVE.match(text) or text.startswith("~"):
            raise ToolError(
                f"The {what} {path!r} is absolute; paths are relative to the workspace root, e.g. 'song.wav'."
            )
        parts = [part for part in text.split("/") if part not in ("", ".")]
        if not parts:
            raise ToolError(f"The {what} {path!r} names the workspace root, not a file.")
        for part in parts:
            folded = unicodedata.normalize("NFKC", part)
            if part == ".." or folded == ".." or "/" in folded or "\\" in folded:
                raise ToolError(f"The {what} {path!r} leaves the workspace ('..' is not allowed).")
            if part.startswith(".") or folded.startswith("."):
                raise ToolError(f"The {what} {path!r} names a hidden file; hidden and internal names are reserved.")
            if len(part.encode()) > MAX_COMPONENT_BYTES:
                raise ToolError(f"The {what} has a name longer than {MAX_COMPONENT_BYTES} bytes.")
        rel = "/".join(parts)
        if len(rel.encode()) > MAX_PATH_BYTES:
            raise ToolError(f"The {what} is longer than {MAX_PATH_BYTES} bytes.")
        return rel

    def resolve(self, path: str, *, must_exist: bool = True, what: str = "path") -> Path:
        """Absolute path of a client path, guaranteed to stay inside the workspace."""
        rel = self.relative(path, what=what)
        target = (self.root / rel).resolve()
        if target != self.root and self.root not in target.parents:
            raise ToolError(f"The {what} {path!r} resolves outside the workspace (a link points out).")
        if any(part.startswith(".") for part in target.relative_to(self.root).parts):
            raise ToolError(f"The {what} {path!r} leads through a link to a hidden or internal file.")
        if target.exists():
            info = target.stat()
            if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                raise ToolError(f"The {what} {path!r} is not a regular file.")
            if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
                raise ToolError(f"The {what} {path!r} is a hard link; copy the file into the workspace instead.")
        elif must_exist:
            raise ToolError(f"No file {rel!r} in the workspace; call list_files to see what is there.")
        return target

    def file(self, path: str, *, what: str = "input") -> Path:
        """An existing regular file."""
        target = self.resolve(path, what=what)
        if not target.is_file():
            raise ToolError(f"The {what} {path!r} is a folder, not a file.")
        return target

    def rel(self, absolute: Path) -> str:
        return absolute.resolve().relative_to(self.root).as_posix()

    def uri(self, absolute: Path) -> str:
        """The workspace:// URI; '%' is escaped so that decoding it gives back this very name."""
        return URI_SCHEME + self.rel(absolute).replace("%", "%25")

    def output_path(self, requested: str | None, *, default: str, overwrite: bool = False) -> Path:
        """Where to write an output: the requested path, or a derived name that does not exist yet.

        A requested path that exists is an error unless `overwrite`; a derived name gets a
        numeric suffix (`song.vocals-2.wav`) instead.
        """
        if requested:
            target = self.resolve(requested, must_exist=False, what="output")
            if target.exists() and not overwrite:
                raise ToolError(
                    f"{self.rel(target)!r} already exists; pass overwrite=true or choose another output name."
                )
            if target.is_dir():
                raise ToolError(f"The output {requested!r} is a folder; give a file name.")
            return target
        target = self.resolve(default, must_exist=False, what="output")
        stem, suffix, n = target.stem, target.suffix, 2
        while target.exists():
            target = target.with_name(f"{stem}-{n}{suffix}")
            n += 1
        return target

    # -- writing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def atomic(self, target: Path) -> Iterator[Path]:
        """Yield a hidden temp path beside `target`; rename it into place only on success."""
        self._make_folder(target)
        fd, tmp_name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=target.suffix, dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            yield tmp
            self._check_size(tmp, target)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def _make_folder(self, target: Path) -> None:
        """Create the folders above `target`; a file standing where a folder should be is the caller's error."""
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ToolError(
                f"Cannot write {self.rel(target)!r}: part of its folder path is an existing file; choose another name."
            ) from None

    def remove_orphaned_temp_files(self) -> list[str]:
        """Remove temp files whose writer died mid-write (kill -9, power loss): they are hidden, but
        would hold disk space and quota forever. A temp file names its writer's process id."""
        removed = []
        for path in self.root.rglob(f"{TEMP_PREFIX}*"):
            writer = path.name[len(TEMP_PREFIX):].split("-", 1)[0]
            if path.is_file() and not path.is_symlink() and not (writer.isdigit() and _alive(int(writer))):
                path.unlink(missing_ok=True)
                removed.append(path.relative_to(self.root).as_posix())
        return removed

    def write_bytes(self, target: Path, data: bytes) -> Path:
        with self.atomic(target) as tmp:
            tmp.write_bytes(data)
        return target

    def _check_size(self, tmp: Path, target: Path) -> None:
        size = tmp.stat().st_size
        if self.max_file_bytes is not None and size > self.max_file_bytes:
            raise ToolError(
                f"The result would be {megabytes(size)}, over the {megabytes(self.max_file_bytes)} per-file limit."
            )
        if self.quota_bytes is not None:
            replaced = target.stat().st_size if target.exists() else 0
            if self.used_bytes() - replaced > self.quota_bytes:
                raise ToolError(
                    f"The workspace quota ({megabytes(self.quota_bytes)}) is full; delete files first."
                )

    def used_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file() and not p.is_symlink())

    # -- listing and file operations --------------------------------------------------------

    def entry(self, absolute: Path) -> FileEntry:
        info = absolute.stat()
        return FileEntry(
            path=self.rel(absolute),
            uri=self.uri(absolute),
            bytes=info.st_size,
            mime_type=mime_type(absolute),
            modified=info.st_mtime,
        )

    def list(self, prefix: str | None = None, pattern: str | None = None) -> list[FileEntry]:
        """Visible regular files under `prefix` (a folder), optionally matching a glob `pattern`."""
        base = self.resolve(prefix, what="prefix") if prefix else self.root
        if base.is_file():
            return [self.entry(base)]
        entries = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                absolute = Path(dirpath) / name
                if not absolute.is_file() or absolute.is_symlink():
                    continue
                rel = self.rel(absolute)
                if pattern and not (fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(name, pattern)):
                    continue
                entries.append(self.entry(absolute))
        return entries

    def delete(self, path: str) -> str:
        target = self.file(path, what="path")
        rel = self.rel(target)
        target.unlink()
        return rel

    def move(self, src: str, dst: str, *, overwrite: bool = False) -> tuple[str, str]:
        source = self.file(src, what="source")
        source_rel = self.rel(source)
        target = self.output_path(dst, default=dst, overwrite=overwrite)
        self._make_folder(target)
        os.replace(source, target)
        return source_rel, self.rel(target)
