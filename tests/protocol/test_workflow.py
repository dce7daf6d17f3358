"""Workflow tools over the in-process client: presets end to end, pipelines, batches, webhooks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import anyio
import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from remote_signals import start_listener  # noqa: E402

from audiolla_mcp import catalog  # noqa: E402
from audiolla_mcp.ops.loudness import measure  # noqa: E402
from audiolla_mcp.presets import load_presets  # noqa: E402
from audiolla_mcp.webhooks import SIGNATURE_HEADER, sign  # noqa: E402

SR = 44100
PRESETS = sorted(load_presets())


def files_in(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and ".audiolla" not in p.parts)


def loudness(path: Path):
    audio, sr = sf.read(str(path), always_2d=True, dtype="float32")
    return measure(audio.T, sr)


# -- fixtures of known content ------------------------------------------------------------------


def write(path: Path, samples: np.ndarray, sr: int = SR) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.atleast_2d(samples).T.astype(np.float32), sr, subtype="FLOAT")
    return path


def mix(seconds: float = 6.0, seed: int = 0) -> np.ndarray:
    """A stereo 'mix': an A-minor triad with bass, hats-like noise bursts and kick-like thumps at
    120 BPM, quiet (about −24 LUFS) with peaky transients that need limiting at −14 LUFS."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tones = sum(0.05 * np.sin(2 * np.pi * f * t) for f in (110.0, 220.0, 261.63, 329.63, 440.0))
    beat = (t % 0.5) < 0.08
    kick = 0.6 * np.sin(2 * np.pi * 60 * t) * np.exp(-((t % 0.5) / 0.03)) * beat
    hats = 0.02 * rng.standard_normal(t.size) * (((t + 0.25) % 0.5) < 0.03)
    left, right = tones + kick + hats, tones + kick + 0.8 * hats
    return 0.5 * np.stack([left, right])


def speech(workspace: Path, name: str = "voice.wav", noise_db: float = -42.0) -> Path:
    """espeak-ng speech after 1 s of pure noise, with steady white noise all through."""
    raw = workspace.parent / "espeak.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(raw), "Welcome back to the show. Today we talk about sound, silence and signal."],
        check=True,
        capture_output=True,
    )
    voice, sr = sf.read(str(raw), dtype="float32")
    voice = 0.5 * voice / np.max(np.abs(voice))
    signal = np.concatenate([np.zeros(sr), voice, np.zeros(sr // 2)])
    noise = 10 ** (noise_db / 20) * np.random.default_rng(3).standard_normal(signal.size)
    return write(workspace / name, (signal + noise)[None, :], sr)


def noise_below_programme_db(path: Path, start_s: float = 0.1, end_s: float = 0.9) -> float:
    """Level of the noise-only lead-in relative to the integrated loudness (lower = cleaner)."""
    audio, sr = sf.read(str(path), always_2d=True, dtype="float32")
    lead = audio[int(start_s * sr) : int(end_s * sr)]
    rms_db = 10 * np.log10(np.mean(lead**2) + 1e-20)
    return rms_db - loudness(path).integrated_lufs


def check_passed(step: dict) -> bool:
    return step["op"] == "check_delivery" and step["result"]["verdict"] in ("pass", "pass_with_warnings")


# -- presets: each meets its own promise --------------------------------------------------------


def _tiny_demucs(tmp_path: Path, settings) -> str:
    from model_fixtures import tiny_htdemucs_kwargs, write_demucs_repo

    from audiolla_mcp import models
    from audiolla_mcp.cli import models_main

    models.apply_settings(settings.models_dir)
    repo = write_demucs_repo(tmp_path / "repo", "tinydemucs", tiny_htdemucs_kwargs())
    assert models_main(["add", "tinydemucs", str(repo)]) == 0
    return "tinydemucs"


def _expect_loud(path: Path, target: float, ceiling: float = -1.0) -> None:
    report = loudness(path)
    assert abs(report.integrated_lufs - target) <= 0.5, report
    assert report.true_peak_dbtp <= ceiling + 0.05, report


async def _run(call, name: str, input: str, params: dict | None = None) -> dict:
    result = await call("run_preset", {"input": input, "name": name, "params": params or {}})
    assert not result.is_error, result.content[0].text
    return result.structured_content


@pytest.mark.slow
@pytest.mark.parametrize("name", PRESETS)
async def test_each_preset_runs_end_to_end_and_keeps_its_promise(name, call, workspace, tmp_path, settings):
    listed = {p["name"]: p for p in (await call("list_presets", {})).structured_content["presets"]}
    preset = listed[name]
    ready = {e.name for e in catalog.load_catalog() if e.ready}
    waiting = [op for op in preset["ops"] if op not in ready]
    if waiting:  # listed honestly until its tools land; then this test runs it for real
        assert not preset["available"] and all(op in preset["reason"] for op in waiting), preset
        return
    assert preset["available"], preset["reason"]
    stem = workspace / "in.wav"
    if name == "master-for-streaming":
        write(stem, mix())
        done = await _run(call, name, "in.wav")
        out = workspace / done["outputs"][0]["path"]
        _expect_loud(out, -14.0)
        assert check_passed(done["steps"][-1]), done["steps"][-1]
    elif name == "podcast-cleanup":
        speech(workspace, "in.wav")
        done = await _run(call, name, "in.wav")
        out = workspace / done["outputs"][0]["path"]
        _expect_loud(out, -16.0)
        assert noise_below_programme_db(out) < noise_below_programme_db(stem) - 6
        assert check_passed(done["steps"][-1]), done["steps"][-1]
    elif name == "vocal-cleanup":
        speech(workspace, "in.wav")
        done = await _run(call, name, "in.wav")
        out = workspace / done["outputs"][0]["path"]
        _expect_loud(out, -18.0)
        assert noise_below_programme_db(out) < noise_below_programme_db(stem) - 6
    elif name == "karaoke":
        write(stem, mix(2.0))
        done = await _run(call, name, "in.wav", {"model": _tiny_demucs(tmp_path, settings), "key_shift": -2})
        assert [s["status"] for s in done["steps"]] == ["ok", "ok", "ok", "ok"]
        assert done["steps"][2]["params"]["pitch_semitones"] == -2
        [output] = done["outputs"]
        out = workspace / output["path"]
        assert sf.info(str(out)).duration == pytest.approx(2.0, abs=0.01)
        _expect_loud(out, -14.0)
    elif name == "stems-to-midi":
        import mido

        write(stem, mix(2.0))
        done = await _run(call, name, "in.wav", {"model": _tiny_demucs(tmp_path, settings)})
        paths = [o["path"] for o in done["outputs"]]
        assert len(paths) == 3 and all(p.startswith("in.stems-to-midi/") and p.endswith(".mid") for p in paths)
        assert [Path(p).name.split(".")[0] for p in paths] == ["bass", "vocals", "other"]
        for path in paths:
            assert mido.MidiFile(str(workspace / path)).length >= 0
    elif name == "dj-prep":
        from audiolla_mcp.ops.tags import read_tags

        write(stem, mix(8.0))
        done = await _run(call, name, "in.wav")
        analysis = done["steps"][0]["result"]
        tags = read_tags(workspace / done["outputs"][0]["path"])
        assert abs(float(tags["bpm"]) - 120) <= 1
        assert tags["key"] == analysis["key"]
    elif name == "lofi":
        write(stem, mix(4.0) + 0.05 * np.random.default_rng(1).standard_normal((2, 4 * SR)))
        done = await _run(call, name, "in.wav")
        out = workspace / done["outputs"][0]["path"]
        assert sf.info(str(out)).duration == pytest.approx(4.0 / 0.92, rel=0.01)
        _expect_loud(out, -14.0)
        assert high_band_share_db(out, 9000) < high_band_share_db(stem, 9000) - 20
    else:
        pytest.fail(f"no promise check for the preset {name!r}: add one")
    assert not (workspace / "runs").exists() or not any((workspace / "runs").iterdir())


def high_band_share_db(path: Path, cutoff_hz: float) -> float:
    audio, sr = sf.read(str(path), always_2d=True, dtype="float32")
    spectrum = np.abs(np.fft.rfft(audio.mean(axis=1))) ** 2
    freqs = np.fft.rfftfreq(audio.shape[0], 1 / sr)
    return 10 * np.log10(spectrum[freqs > cutoff_hz].sum() / spectrum.sum())


async def test_list_presets_reports_params_ops_and_availability(call):
    result = await call("list_presets", {})
    assert not result.is_error
    presets = {p["name"]: p for p in result.structured_content["presets"]}
    assert set(PRESETS) <= set(presets)
    streaming = presets["master-for-streaming"]
    assert {p["name"]: p["default"] for p in streaming["params"]}["target_lufs"] == -14
    assert streaming["uri"] == "audiolla://presets/master-for-streaming"
    ready = {e.name for e in catalog.load_catalog() if e.ready}
    for preset in presets.values():
        assert preset["available"] == (set(preset["ops"]) <= ready), preset


async def test_preset_resources(client):
    from mcp.shared.exceptions import MCPError

    text = (await client.read_resource("audiolla://presets/lofi")).contents[0].text
    assert text == (Path(__file__).resolve().parents[2] / "presets" / "lofi.yaml").read_text()
    listed = json.loads((await client.read_resource("audiolla://presets")).contents[0].text)
    assert {p["name"] for p in listed} >= set(PRESETS)
    with pytest.raises(MCPError, match="No preset 'nope'"):
        await client.read_resource("audiolla://presets/nope")


async def test_run_preset_refuses_unknown_names_and_bad_params(call, signals):
    signals.sine("a.wav", seconds=1)
    unknown = await call("run_preset", {"input": "a.wav", "name": "mastr"})
    assert unknown.is_error and "No preset 'mastr'" in unknown.content[0].text
    bad = await call("run_preset", {"input": "a.wav", "name": "lofi", "params": {"speed": 3}})
    assert bad.is_error and "params.speed: 3 is outside 0.5…1.0" in bad.content[0].text
    missing = await call("run_preset", {"input": "nothing.wav", "name": "lofi"})
    assert missing.is_error and "No file 'nothing.wav'" in missing.content[0].text


# -- ad-hoc pipelines ---------------------------------------------------------------------------

LEVEL = [
    {"op": "trim", "id": "cut", "params": {"start_s": 0.5}},
    {"op": "measure_loudness", "id": "before"},
    {"op": "normalize_loudness", "params": {"target_lufs": -20}},
    {"op": "measure_loudness", "id": "after"},
    {"op": "measure_loudness", "id": "source", "params": {"input": "${steps.cut.output.path}"}},
]


async def test_pipeline_chains_steps_and_logs_each(call, signals, workspace):
    signals.sine("a.wav", freq=440, seconds=3, level_db=-30)
    result = await call("run_pipeline", {"input": "a.wav", "steps": LEVEL})
    assert not result.is_error, result.content[0].text
    done = result.structured_content
    steps = {s["id"]: s for s in done["steps"]}
    assert list(steps) == ["cut", "before", "normalize_loudness", "after", "source"]
    assert all(s["status"] == "ok" and s["duration_s"] >= 0 and s["summary"] for s in done["steps"])
    assert steps["cut"]["result"]["output"]["duration_s"] == pytest.approx(2.5)
    assert steps["after"]["result"]["integrated_lufs"] == pytest.approx(-20, abs=0.1)
    assert steps["source"]["result"]["integrated_lufs"] == pytest.approx(
        steps["before"]["result"]["integrated_lufs"], abs=0.01
    )
    assert steps["normalize_loudness"]["params"]["target_lufs"] == -20
    [final] = done["outputs"]
    assert final["path"] == "a.pipeline.wav" and steps["normalize_loudness"]["outputs"] == ["a.pipeline.wav"]
    assert loudness(workspace / final["path"]).integrated_lufs == pytest.approx(-20, abs=0.1)
    assert done["run_folder"] is None and files_in(workspace) == ["a.pipeline.wav", "a.wav"]
    assert "a.pipeline.wav" in result.content[0].text


async def test_intermediates_can_be_kept_under_the_run_folder(call, signals, workspace):
    signals.sine("a.wav", seconds=2)
    steps = [{"op": "trim", "params": {"start_s": 0.5}}, {"op": "reverse"}, {"op": "normalize_loudness"}]
    result = await call(
        "run_pipeline", {"input": "a.wav", "steps": steps, "keep_intermediates": True, "output": "out/final.wav"}
    )
    assert not result.is_error, result.content[0].text
    done = result.structured_content
    folder = done["run_folder"]
    assert folder.startswith("runs/pipeline-")
    assert files_in(workspace) == sorted(
        ["a.wav", "out/final.wav", f"{folder}/01-trim.trim.wav", f"{folder}/02-reverse.reversed.wav"]
    )
    assert done["steps"][1]["params"]["input"] == f"{folder}/01-trim.trim.wav"
    info = sf.info(str(workspace / f"{folder}/01-trim.trim.wav"))
    assert info.subtype == "FLOAT"  # intermediates are 32-bit float: nothing clips between steps
    again = await call("run_pipeline", {"input": "a.wav", "steps": steps, "output": "out/final.wav"})
    assert again.is_error and "already exists" in again.content[0].text


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"op": "trim"}, {"op": "frobnicate"}], "steps[1] 'frobnicate': unknown op 'frobnicate'"),
        ([{"op": "trim", "params": {"start": 1}}], "steps[0] 'trim': trim does not take 'start'"),
        (
            [{"op": "trim", "id": "a", "params": {"end_s": "${steps.b.end_s}"}}, {"op": "reverse", "id": "b"}],
            "steps[0] 'a': ${steps.b.end_s} refers to step 'b', which does not run before this one",
        ),
        ([{"op": "trim", "id": "a", "params": {"end_s": "${steps.a.end_s}"}}], "refers to the step itself (a cycle)"),
        ([{"op": "trim"}] * 33, "at most 32 run in one call"),
        ([{"op": "job_status", "params": {"job_id": "x"}}], "cannot run inside a pipeline"),
        ([{"op": "trim", "params": {"output": "x.wav"}}], "output cannot be set on a step"),
        (
            [{"op": "split", "params": {"parts": 2}}, {"op": "reverse"}],
            "steps[1] 'reverse': the step before wrote several files",
        ),
        ([{"op": "render_midi"}], "steps[0] 'render_midi': render_midi takes midi but would get audio"),
        ([{"op": "trim", "params": {"start_s": "${prev.x}"}}], "the first step has no previous step"),
    ],
)
async def test_bad_pipelines_fail_before_running_and_name_the_step(call, signals, workspace, steps, message):
    signals.sine("a.wav", seconds=1)
    result = await call("run_pipeline", {"input": "a.wav", "steps": steps})
    assert result.is_error
    assert message in result.content[0].text
    assert files_in(workspace) == ["a.wav"]


async def test_a_step_that_fails_mid_run_leaves_nothing_behind(call, signals, workspace):
    signals.sine("a.wav", seconds=2)
    (workspace / "notes.mid").write_bytes(b"MThd")
    steps = [
        {"op": "trim", "params": {"start_s": 0.5}},
        {"op": "reverse"},
        {"op": "trim", "id": "late", "params": {"start_s": 99}},
    ]
    result = await call("run_pipeline", {"input": "a.wav", "steps": steps, "keep_intermediates": True})
    assert result.is_error and "steps[2] 'late' (trim) failed:" in result.content[0].text
    assert files_in(workspace) == ["a.wav", "notes.mid"] and not (workspace / "runs").exists()
    invalid = await call("run_pipeline", {"input": "a.wav", "steps": [{"op": "reverse"}, {"op": "trim", "params": {"end_s": -3}}]})
    assert invalid.is_error
    assert "steps[1] 'trim' (trim) failed: Invalid arguments for trim: end_s: Input should be greater than 0 (got -3)" in (
        invalid.content[0].text
    )
    mismatch = await call(
        "run_pipeline", {"input": "a.wav", "steps": [{"op": "reverse", "params": {"input": "notes.mid"}}]}
    )
    assert mismatch.is_error and "reverse takes audio, but its input 'notes.mid' is midi" in mismatch.content[0].text
    missing_field = await call(
        "run_pipeline",
        {
            "input": "a.wav",
            "steps": [{"op": "trim", "id": "cut"}, {"op": "trim", "params": {"end_s": "${steps.cut.nothing}"}}],
        },
    )
    assert missing_field.is_error and "'nothing' is not in the result" in missing_field.content[0].text
    assert files_in(workspace) == ["a.wav", "notes.mid"]


@pytest.mark.slow
async def test_user_presets_with_conditions_and_previous_results(tmp_path, workspace, signals):
    from mcp import Client

    from audiolla_mcp.config import Settings
    from audiolla_mcp.server import build_server, make_app

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "cut-and-maybe-reverse.yaml").write_text(
        "title: Cut and maybe reverse\ndescription: Trim, reverse when asked, then level.\n"
        "params:\n  backwards: {type: boolean, default: false, description: Reverse the audio.}\n"
        "steps:\n  - {id: cut, op: trim, params: {start_s: 0.25}}\n"
        "  - {id: flip, op: reverse, when: '${backwards}'}\n"
        "  - {id: level, op: normalize_loudness, params: {target_lufs: -18}}\n"
        "  - {id: check, op: measure_loudness, params: {input: '${prev.output.path}'}}\n"
        "outputs: [level]\n"
    )
    settings = Settings.from_env(
        workspace=workspace, toolsets=["default"], presets_dir=folder, models_dir=tmp_path / "m"
    )
    app = make_app(settings)
    t = np.arange(SR) / SR
    signals.write("r.wav", np.sin(2 * np.pi * 440 * t) * np.linspace(0.02, 0.5, SR))  # swells
    try:
        async with Client(build_server(settings, app)) as client:
            plain = await client.call_tool("run_preset", {"input": "r.wav", "name": "cut-and-maybe-reverse"})
            assert not plain.is_error, plain.content[0].text
            assert [s["status"] for s in plain.structured_content["steps"]] == ["ok", "skipped", "ok", "ok"]
            flipped = await client.call_tool(
                "run_preset", {"input": "r.wav", "name": "cut-and-maybe-reverse", "params": {"backwards": "yes"}}
            )
            assert not flipped.is_error, flipped.content[0].text
            steps = flipped.structured_content["steps"]
            assert [s["status"] for s in steps] == ["ok", "ok", "ok", "ok"]
            assert steps[3]["result"]["integrated_lufs"] == pytest.approx(-18, abs=0.1)
            out = workspace / flipped.structured_content["outputs"][0]["path"]
            assert out.name == "r.cut-and-maybe-reverse-2.wav"
            data, _ = sf.read(str(out))
            tenth = len(data) // 10
            assert np.abs(data[:tenth]).mean() > 2 * np.abs(data[-tenth:]).mean()  # the swell now fades
    finally:
        app.jobs.shutdown()


# -- background runs and webhooks ---------------------------------------------------------------


@pytest.fixture
def listener():
    started = start_listener()
    yield started
    started.close()


async def test_background_pipeline_posts_a_signed_webhook(tmp_path, workspace, signals, listener):
    from mcp import Client

    from audiolla_mcp.config import Settings
    from audiolla_mcp.server import build_server, make_app

    settings = Settings.from_env(
        workspace=workspace,
        toolsets=["all"],
        models_dir=tmp_path / "m",
        remote_allowlist=["127.0.0.1"],
        remote_schemes=["http"],
        remote_allow_private=True,
        webhook_secret="hook-key",
    )
    app = make_app(settings)
    signals.sine("a.wav", seconds=2)
    try:
        async with Client(build_server(settings, app)) as client:
            started = await client.call_tool(
                "run_pipeline",
                {
                    "input": "a.wav",
                    "steps": [{"op": "trim", "params": {"start_s": 1}}, {"op": "normalize_loudness"}],
                    "background": True,
                    "webhook_url": listener.base + "/hook?token=abc",
                },
            )
            assert not started.is_error, started.content[0].text
            job_id = started.structured_content["job_id"]
            assert app.jobs.wait(job_id, 30).status == "succeeded"
            [seen] = listener.wait(1)
            assert seen.path == "/hook?token=abc" and seen.headers[SIGNATURE_HEADER] == sign("hook-key", seen.body)
            job = json.loads(seen.body)["job"]
            assert job["id"] == job_id and job["status"] == "succeeded"
            assert job["result"]["outputs"][0]["path"] == "a.pipeline.wav"
            fetched = await client.call_tool("job_result", {"job_id": job_id})
            assert fetched.structured_content["result"]["steps"][0]["result"]["output"]["duration_s"] == pytest.approx(
                1.0
            )
            refused = await client.call_tool(
                "run_pipeline",
                {
                    "input": "a.wav",
                    "steps": [{"op": "reverse"}],
                    "background": True,
                    "webhook_url": "http://localhost:9/x",
                },
            )
            assert refused.is_error and "not on this server's remote allowlist" in refused.content[0].text
            inline = await client.call_tool(
                "run_pipeline", {"input": "a.wav", "steps": [{"op": "reverse"}], "webhook_url": listener.base}
            )
            assert inline.is_error and "only with background=true" in inline.content[0].text
    finally:
        app.jobs.shutdown()


async def test_webhooks_are_refused_while_remote_urls_are_off(call, signals):
    signals.sine("a.wav", seconds=1)
    result = await call(
        "run_pipeline",
        {
            "input": "a.wav",
            "steps": [{"op": "reverse"}],
            "background": True,
            "webhook_url": "https://hooks.example.com/x",
        },
    )
    assert result.is_error and "signing secret" in result.content[0].text


async def test_cancelling_a_background_run_stops_it_and_removes_its_files(call, signals, workspace, app):
    signals.noise("long.wav", seconds=20)
    steps = [{"op": "reverse"} for _ in range(30)]
    started = await call("run_pipeline", {"input": "long.wav", "steps": steps, "background": True})
    job_id = started.structured_content["job_id"]
    deadline = time.monotonic() + 30
    while (app.jobs.get(job_id).progress or 0) < 0.05 and time.monotonic() < deadline:
        await anyio.sleep(0.02)
    cancelled = await call("job_cancel", {"job_id": job_id})
    assert not cancelled.is_error
    record = app.jobs.wait(job_id, 30)
    assert record.status == "cancelled", record
    assert files_in(workspace) == ["long.wav"]
    failing = await call(
        "run_pipeline",
        {
            "input": "long.wav",
            "background": True,
            "steps": [{"op": "reverse"}, {"op": "trim", "params": {"start_s": 50}}],
        },
    )
    record = app.jobs.wait(failing.structured_content["job_id"], 30)
    assert record.status == "failed" and record.error.startswith("steps[1] 'trim' (trim) failed: start_s 50")
    assert files_in(workspace) == ["long.wav"]


async def test_inline_runs_report_progress_per_step(client, signals):
    signals.sine("a.wav", seconds=1)
    seen: list[tuple[float, float | None, str | None]] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append((done, total, message))

    steps = [{"op": "trim", "params": {"start_s": 0.1}}, {"op": "reverse"}, {"op": "measure_loudness"}]
    result = await client.call_tool("run_pipeline", {"input": "a.wav", "steps": steps}, progress_callback=progress)
    assert not result.is_error
    messages = [m for _, _, m in seen if m]
    for expected in ("step 1/3: trim", "step 2/3: reverse", "step 3/3: measure_loudness"):
        assert any(m.startswith(expected) for m in messages), messages
    assert all(total == 3 for _, total, _ in seen)
    assert [done for done, _, _ in seen] == sorted(done for done, _, _ in seen)


# -- batch and list_ops -------------------------------------------------------------------------


async def test_batch_runs_one_op_over_many_files(call, signals, workspace):
    for i, level in enumerate((-30, -20, -10)):
        signals.sine(f"album/t{i}.wav", seconds=1, level_db=level)
    (workspace / "album" / "notes.txt").write_text("not audio")
    result = await call("batch", {"op": "measure_loudness", "pattern": "album/*"})
    assert not result.is_error, result.content[0].text
    done = result.structured_content
    assert (done["succeeded"], done["failed"]) == (3, 1)
    by_input = {item["input"]: item for item in done["items"]}
    measured = [by_input[f"album/t{i}.wav"]["result"]["integrated_lufs"] for i in range(3)]
    assert measured[1] - measured[0] == pytest.approx(10, abs=0.05) and measured[2] - measured[1] == pytest.approx(
        10, abs=0.05
    )
    assert not by_input["album/notes.txt"]["ok"] and by_input["album/notes.txt"]["error"]
    levelled = await call(
        "batch",
        {
            "op": "normalize_loudness",
            "inputs": ["album/t0.wav", "album/t2.wav"],
            "params": {"target_lufs": -16},
            "concurrency": 2,
        },
    )
    assert [item["outputs"] for item in levelled.structured_content["items"]] == [
        ["t0.-16LUFS.wav"],
        ["t2.-16LUFS.wav"],
    ]
    missing = await call("batch", {"op": "measure_loudness", "inputs": ["album/t0.wav", "album/gone.wav"]})
    assert (
        missing.is_error
        and "inputs[1] 'album/gone.wav'" in missing.content[0].text
        and "Nothing was run" in missing.content[0].text
    )
    wrong = await call("batch", {"op": "measure_loudness", "inputs": ["album/t0.wav"], "params": {"output": "x.wav"}})
    assert wrong.is_error and "params may not set output" in wrong.content[0].text


async def test_large_batches_run_in_the_background(call, signals, app):
    for i in range(9):
        signals.sine(f"b/{i}.wav", seconds=0.5)
    result = await call("batch", {"op": "audio_info", "pattern": "b/*.wav"})
    assert not result.is_error, result.content[0].text
    job_id = result.structured_content["job_id"]
    record = app.jobs.wait(job_id, 30)
    assert record.status == "succeeded" and record.result["succeeded"] == 9 and record.progress == 1.0


async def test_list_ops_describes_what_pipelines_can_run(call):
    result = await call("list_ops", {})
    assert not result.is_error
    ops = {op["name"]: op for op in result.structured_content["ops"]}
    assert ops["trim"]["takes"] == "audio" and ops["trim"]["makes"] == "audio"
    assert ops["measure_loudness"]["makes"] == "none"
    assert not {"run_preset", "run_pipeline", "batch", "job_status", "delete_file", "move_file"} & set(ops)
    start = {p["name"]: p for p in ops["trim"]["params"]}["start_s"]
    assert start["default"] == 0.0 and start["description"]
    one = await call("list_ops", {"op": "normalize_loudness"})
    assert "target_lufs" in one.structured_content["input_schema"]["properties"]
    assert (await call("list_ops", {"op": "nope"})).is_error


def test_the_fixtures_have_the_content_they_claim(tmp_path):
    assert shutil.which("espeak-ng"), "espeak-ng is needed for speech fixtures"
    path = write(tmp_path / "m.wav", mix())
    report = loudness(path)
    assert -30 < report.integrated_lufs < -18 and report.true_peak_dbtp > report.integrated_lufs + 12
    voice = speech(tmp_path / "ws")
    assert noise_below_programme_db(voice) < -10
