"""The model registry, cache dir, downloads (from a local HTTP server) and the CLI."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from functools import partial

import pytest
from model_fixtures import isolated_home

from audiolla_mcp import models
from audiolla_mcp.cli import models_main
from audiolla_mcp.errors import Cancelled, ToolError
from audiolla_mcp.progress import CancelToken

pytestmark = pytest.mark.usefixtures("isolated_home")
assert isolated_home


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def file_server(tmp_path):
    """Serve `tmp_path/www` over HTTP on localhost; yields (root dir, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_registry_covers_every_family_and_the_required_models():
    known = models.registry()
    for name in ("htdemucs", "htdemucs_ft", "htdemucs_6s", "mdx_extra", "bs_roformer",
                 "mel_roformer_karaoke", "vr_deecho_dereverb", "vr_denoise", "deepfilternet3",
                 "deepfilternet3-onnx", "silero-vad", "pyannote-diarization", "ast-audioset", "clap"):
        assert name in known
    assert {s.family for s in known.values()} == set(models.FAMILIES)
    for spec in known.values():
        assert spec.summary and spec.licence and spec.source and spec.approx_mb > 0
        for file in spec.files:
            assert file.urls and all(u.startswith("https://") for u in file.urls)
            assert file.sha256 is None or len(file.sha256) == 64
    tasks = {t for s in known.values() if s.family == "uvr" for t in s.tasks}
    assert {"separate", "karaoke", "dereverb", "deecho", "denoise"} <= tasks
    assert known["htdemucs_6s"].stems == ("drums", "bass", "other", "vocals", "guitar", "piano")


def test_demucs_files_carry_the_checksum_prefix_demucs_checks():
    spec = models.spec("htdemucs")
    assert spec.files[0].urls == ("https://dl.fbaipublicfiles.com/demucs/hybrid_transformer/955717e8-8726e21a.th",)
    assert models._demucs_prefix(spec.files[0]) == "8726e21a"


def test_missing_model_error_names_size_and_command():
    with pytest.raises(ToolError) as err:
        models.require("htdemucs")
    assert str(err.value) == "htdemucs is not installed; run `audiolla-mcp models pull htdemucs` (80 MB)"
    with pytest.raises(ToolError, match="HF_TOKEN"):
        models.require("pyannote-diarization")


def test_unknown_name_suggests_close_ones():
    with pytest.raises(ToolError, match="did you mean htdemucs_ft"):
        models.spec("htdemucs-ft")


def test_bundled_models_are_installed_with_their_package():
    assert models.is_installed(models.spec("silero-vad"))
    folder = models.require("silero-vad")
    assert (folder / "data" / "silero_vad.onnx").is_file()
    assert models.verify("deepfilternet3-onnx").ok


def test_fetch_downloads_verifies_and_reports_progress(file_server):
    root, base = file_server
    payload = b"weights" * 300_000
    digest = hashlib.sha256(payload).hexdigest()
    (root / f"abcdef01-{digest[:8]}.th").write_bytes(payload)
    (root / "config.yaml").write_bytes(b"a: 1\n")
    spec = models.ModelSpec("localdemucs", "demucs", "test", 1, "local", "MIT", (
        models.ModelFile(f"abcdef01-{digest[:8]}.th", (base + "missing.th", base + f"abcdef01-{digest[:8]}.th")),
        models.ModelFile("config.yaml", (base + "config.yaml",), sha256=hashlib.sha256(b"a: 1\n").hexdigest(), size=5),
    ), shared_dir=False)
    seen = []
    folder = models.fetch(spec, progress=lambda d, t, m=None: seen.append((d, t, m)))
    assert (folder / f"abcdef01-{digest[:8]}.th").read_bytes() == payload
    assert seen[-1][0] == seen[-1][1] == 5 and "config.yaml" in seen[-1][2]
    assert any(d == len(payload) for d, _, _ in seen)
    assert models.is_installed(spec)
    assert not list(folder.glob("*.part"))


def test_fetch_rejects_a_file_whose_checksum_does_not_match(file_server):
    root, base = file_server
    (root / "abcdef01-00000000.th").write_bytes(b"not the real weights")
    spec = models.ModelSpec("bad", "demucs", "test", 1, "local", "MIT", (
        models.ModelFile("abcdef01-00000000.th", (base + "abcdef01-00000000.th",)),), shared_dir=False)
    with pytest.raises(ToolError, match="failed verification"):
        models.fetch(spec)
    assert not models.is_installed(spec)


def test_fetch_honours_cancel_and_leaves_nothing(file_server):
    root, base = file_server
    (root / "big.bin").write_bytes(b"x" * (3 << 20))
    spec = models.ModelSpec("big", "uvr", "test", 3, "local", "MIT",
                            (models.ModelFile("big.bin", (base + "big.bin",)),), shared_dir=False)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        models.fetch(spec, cancel=token)
    assert not list((models.models_dir() / "big").iterdir())


def test_unreachable_source_is_a_clear_error():
    spec = models.ModelSpec("gone", "uvr", "test", 1, "local", "MIT",
                            (models.ModelFile("x.onnx", ("http://127.0.0.1:9/x.onnx",)),), shared_dir=False)
    with pytest.raises(ToolError, match="could not download gone: x.onnx"):
        models.fetch(spec)


def test_add_list_verify_rm_through_the_cli(tmp_path, capsys):
    source = tmp_path / "mine"
    source.mkdir()
    (source / "model.onnx").write_bytes(b"\x08" * 1000)
    assert models_main(["add", "my_mdx", str(source), "--stems", "vocals,instrumental"]) == 0
    info = next(m for m in models.list_models() if m.name == "my_mdx")
    assert info.installed and info.family == "uvr" and info.origin == "added"
    assert info.stems == ["vocals", "instrumental"]
    assert models.spec("my_mdx").entry == "model.onnx"
    assert models_main(["verify", "my_mdx"]) == 0
    (models.models_dir() / "my_mdx" / "model.onnx").write_bytes(b"\x09" * 1000)
    assert models_main(["verify", "my_mdx"]) == 1
    assert "BAD model.onnx: sha256" in capsys.readouterr().out
    assert models_main(["list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert any(m["name"] == "my_mdx" for m in listed)
    assert models_main(["rm", "my_mdx"]) == 0
    assert "my_mdx" not in models.registry()
    assert models_main(["rm", "my_mdx"]) == 1
    assert "unknown model 'my_mdx'" in capsys.readouterr().err


def test_add_refuses_unknown_layouts_and_bad_names(tmp_path):
    odd = tmp_path / "odd.txt"
    odd.write_text("?")
    with pytest.raises(ToolError, match="--family"):
        models.add("odd", odd)
    with pytest.raises(ToolError, match="invalid model name"):
        models.add("../evil", odd, family="uvr")


def test_add_can_link_instead_of_copy(tmp_path):
    source = tmp_path / "repo"
    source.mkdir()
    (source / "abc.th").write_bytes(b"1")
    models.add("linked", source, link=True)
    assert (models.models_dir() / "linked").is_symlink()
    assert models.spec("linked").family == "demucs"


def test_models_dir_and_offline_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("AUDIOLLA_MODELS_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert models.models_dir() == tmp_path / "c" / "audiolla-mcp" / "models"
    monkeypatch.delenv("HF_HUB_OFFLINE")
    models.keep_libraries_offline()
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    monkeypatch.setenv("AUDIOLLA_AUTO_DOWNLOAD", "1")
    assert models.downloads_enabled()
