"""MCP prompts (the exact tool sequence, arguments filled in), completions and the models resource."""

from __future__ import annotations

import json

import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import PromptReference, ResourceTemplateReference

from audiolla_mcp.presets import load_presets

PROMPTS = {
    "master_for_streaming",
    "make_karaoke",
    "clean_podcast",
    "stems_to_midi",
    "compose_and_render",
    "analyze_track",
    "prepare_dj_set",
}


def text_of(result) -> str:
    [message] = result.messages
    assert message.role == "user"
    return message.content.text


async def test_every_catalog_prompt_is_listed_with_its_arguments(client):
    prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) == PROMPTS
    for prompt in prompts.values():
        assert prompt.description and prompt.title, prompt.name
        assert all(argument.description for argument in prompt.arguments or []), prompt.name
    required = {a.name for a in prompts["master_for_streaming"].arguments if a.required}
    assert required == {"input"}
    assert {a.name for a in prompts["compose_and_render"].arguments if a.required} == {"idea"}


async def test_a_preset_prompt_gives_the_exact_tool_sequence_filled_in(client):
    text = text_of(await client.get_prompt("master_for_streaming", {"input": "mixes/song.wav", "platform": "youtube"}))
    preset = load_presets()["master-for-streaming"]
    assert (
        'run_preset(input="mixes/song.wav", name="master-for-streaming", params={"platform": "youtube"})' in text
        or ("cannot run master-for-streaming yet" in text)
    )
    lines = [line for line in text.splitlines() if line[:1].isdigit()]
    assert [line.split(". ", 1)[1].split("(", 1)[0] for line in lines] == preset.ops
    assert lines[0].startswith('1. eq(input="mixes/song.wav", bands=[{"type": "high_pass", "freq_hz": 30.0')
    assert 'normalize_loudness(input="<output.path from step 2>", target_lufs=-14.0, true_peak_db=-1.0)' in lines[2]
    assert 'check_delivery(input="<output.path from step 3>", spec="youtube")' in lines[3]
    assert preset.promise in " ".join(text.split())


async def test_karaoke_prompt_fills_in_the_key_change_and_its_condition(client):
    text = text_of(
        await client.get_prompt("make_karaoke", {"input": "song.wav", "key_shift": "-3", "model": "htdemucs_ft"})
    )
    assert 'separate_stems(input="song.wav", model="htdemucs_ft", stems=["instrumental"], analyze=false)' in text
    assert (
        "time_stretch(" in text and "pitch_semitones=-3" in text and "(only when ${key_shift} is set; here: -3)" in text
    )
    unchanged = text_of(await client.get_prompt("make_karaoke", {"input": "song.wav"}))
    assert "here: 0" in unchanged


async def test_prompts_without_presets_name_their_tools(client):
    analyze = text_of(await client.get_prompt("analyze_track", {"input": "a b.wav"}))
    for call in ('analyze(input="a b.wav")', 'detect_chords(input="a b.wav")', 'segment_structure(input="a b.wav")'):
        assert call in analyze
    compose = text_of(
        await client.get_prompt("compose_and_render", {"idea": "a calm loop", "key": "D minor", "tempo_bpm": "84"})
    )
    assert "render_midi(" in compose and "D minor" in compose and "84 BPM" in compose
    dj = text_of(await client.get_prompt("prepare_dj_set", {"pattern": "crate/*.mp3"}))
    assert 'batch(op="dj_prep", pattern="crate/*.mp3")' in dj and 'name="dj-prep"' in dj


async def test_bad_prompt_arguments_are_refused(client):
    with pytest.raises(MCPError, match="key_shift"):
        await client.get_prompt("make_karaoke", {"input": "song.wav", "key_shift": "lots"})
    with pytest.raises(MCPError, match="platform"):
        await client.get_prompt("master_for_streaming", {"input": "song.wav", "platform": "myspace"})
    with pytest.raises(MCPError):
        await client.get_prompt("analyze_track", {})


async def complete(client, ref, name: str, value: str) -> list[str]:
    return (await client.complete(ref, {"name": name, "value": value})).completion.values


async def test_completions_for_paths_presets_models_keys_and_choices(client, signals, workspace):
    signals.sine("songs/one.wav", seconds=0.2)
    signals.sine("songs/two.wav", seconds=0.2)
    (workspace / "songs" / "notes.txt").write_text("x")
    prompt = PromptReference(type="ref/prompt", name="master_for_streaming")
    assert await complete(client, prompt, "input", "songs/") == ["songs/one.wav", "songs/two.wav"]
    assert await complete(client, prompt, "input", "TWO") == ["songs/two.wav"]
    assert await complete(client, prompt, "platform", "a") == ["apple_music", "amazon_music"]
    karaoke = PromptReference(type="ref/prompt", name="make_karaoke")
    assert set(await complete(client, karaoke, "model", "htdemucs")) >= {"htdemucs", "htdemucs_ft", "htdemucs_6s"}
    compose = PromptReference(type="ref/prompt", name="compose_and_render")
    assert await complete(client, compose, "key", "F# mi") == ["F# minor"]
    assert len(await complete(client, compose, "key", "")) == 28
    presets = ResourceTemplateReference(type="ref/resource", uri="audiolla://presets/{name}")
    assert await complete(client, presets, "name", "ka") == ["karaoke"]
    files = ResourceTemplateReference(type="ref/resource", uri="workspace://{+path}")
    assert await complete(client, files, "path", "songs/n") == ["songs/notes.txt"]


async def test_models_resource_lists_the_registry(client):
    models = json.loads((await client.read_resource("audiolla://models")).contents[0].text)
    by_name = {m["name"]: m for m in models}
    assert by_name["htdemucs"]["family"] == "demucs" and by_name["htdemucs"]["size_mb"] > 0
    assert {"installed", "licence", "summary"} <= set(by_name["htdemucs"])
