"""The server must start without importing the heavy libraries (they load on first use)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "librosa", "transformers", "demucs", "pyannote", "audio_separator", "numba", "matchering", "noisereduce")


def test_server_import_is_light() -> None:
    code = (
        "import sys; import audiolla_mcp.server as s; from audiolla_mcp.config import Settings; "
        "import tempfile; s.build_server(Settings.from_env(workspace=tempfile.mkdtemp(), toolsets=['all'])); "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip().splitlines()[-1:] in ([], [""]), f"heavy modules imported: {done.stdout}"
