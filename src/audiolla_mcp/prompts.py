"""MCP prompts, argument completions and the models resource: what an agent needs to pick a
workflow and fill in its arguments.

Each prompt turns a user's request ("master this for Spotify") into the exact tool calls with the
user's arguments filled in. Prompts backed by a preset render the preset's own steps, so the
sequence an agent reads is the one `run_preset` runs. Completions offer workspace paths, preset
names, model names, keys and a preset parameter's choices.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    ResourceTemplateReference,
)
from pydantic import Field

from .errors import ToolError
from .models import list_models
from .presets import Preset, Ref, substitute

if TYPE_CHECKING:
    from .server import App

MAX_COMPLETIONS = 100
NOTES = ("C", "C#", "Db", "D", "Eb", "E", "F", "F#", "Gb", "G", "Ab", "A", "Bb", "B")
KEYS = tuple(f"{note} {mode}" for mode in ("major", "minor") for note in NOTES)
AUDIO_ARGUMENTS = ("input", "reference", "path", "folder")

InputArg = Annotated[str, Field(description="The audio file in the workspace, e.g. 'song.wav'.")]


def preset_calls(app: App, server: MCPServer, preset: Preset, input: str, overrides: dict[str, Any]) -> list[str]:
    """The preset's steps as tool calls with the user's values filled in."""
    from .pipeline import op_infos, tool_server

    values = {"input": input, "stem": input.rsplit("/", 1)[-1].rsplit(".", 1)[0], **preset.bind(overrides)}
    infos = op_infos(tool_server(server))
    position = {step.id: i + 1 for i, step in enumerate(preset.steps)}
    lines: list[str] = []
    current = json.dumps(input)
    for i, step in enumerate(preset.steps):

        def lookup(ref: Ref, i: int = i) -> Any:
            if ref.root == "param":
                return values[ref.name]
            if ref.root == "prev":
                return f"<{ref.text.removeprefix('prev.')} from step {i}>"
            field = ref.text.split(".", 2)[2] if ref.text.count(".") >= 2 else ref.text
            return f"<{field} from step {position[ref.name]}>"

        params = substitute(step.params, lookup)
        takes = step.op not in infos or infos[step.op].takes is not None
        arguments = ([f"input={current}"] if takes and "input" not in params else []) + [
            f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in params.items()
        ]
        condition = ""
        if step.when is not None:
            shown = substitute(step.when, lookup)
            condition = f"  (only when {step.when} is set; here: {shown})"
        lines.append(f"{i + 1}. {step.op}({', '.join(arguments)}){condition}")
        if step.op not in infos or infos[step.op].makes != "none":
            current = f'"<output.path from step {i + 1}>"'
    return lines


def _preset_prompt(
    app: App, server: MCPServer, name: str, input: str, overrides: dict[str, Any], goal: str, report: str
) -> str:
    preset = app.presets.get(name)
    if preset is None:
        return f"{goal}\nThe preset {name!r} is not installed on this server; use the individual tools (list_ops)."
    from .pipeline import op_infos, problems, tool_server

    overrides = {k: v for k, v in overrides.items() if v not in (None, "")}
    try:
        calls = preset_calls(app, server, preset, input, overrides)
    except ToolError as exc:
        raise MCPError(code=INVALID_PARAMS, message=str(exc)) from None
    values = {k: v for k, v in preset.bind(overrides).items() if k in overrides}
    run = f'run_preset(input={json.dumps(input)}, name="{name}"' + (
        f", params={json.dumps(values)})" if values else ")"
    )
    blocked = problems(preset.steps, op_infos(tool_server(server)))
    status = (
        f"Note: this server cannot run {name} yet ({blocked[0]}); do what you can with the tools it lists."
        if blocked
        else f"One call does it all: {run}. Add background=true for inputs longer than about 30 s, then poll job_status."
    )
    promise = f"\nIt promises: {preset.promise}." if preset.promise else ""
    return (
        f"{goal}\n\n{status}\n\nThe same, step by step (each step's output feeds the next):\n"
        + "\n".join(calls)
        + promise
        + f"\n\n{report}"
    )


def register(server: MCPServer, app: App) -> None:
    """Prompts, the completion handler and `audiolla://models`."""

    @server.prompt(title="Master for streaming")
    def master_for_streaming(
        input: InputArg,
        platform: Annotated[
            str, Field(description="Delivery spec: spotify, apple_music, youtube, amazon_music…")
        ] = "spotify",
        target_lufs: Annotated[
            str, Field(description="Integrated loudness target in LUFS (default: the platform's).")
        ] = "",
    ) -> str:
        """Master a track to a streaming platform's loudness and peak spec, then check delivery."""
        return _preset_prompt(
            app,
            server,
            "master-for-streaming",
            input,
            {"platform": platform, "target_lufs": target_lufs},
            f"Master {input!r} for {platform} with the audiolla tools.",
            "Then report the integrated loudness, the true peak and the check_delivery verdict. If a criterion "
            "fails, apply the fixes check_delivery lists, in order, and check again.",
        )

    @server.prompt(title="Make a karaoke track")
    def make_karaoke(
        input: InputArg,
        key_shift: Annotated[str, Field(description="Semitones to move the key (e.g. -2); 0 keeps it.")] = "0",
        model: Annotated[str, Field(description="Separation model, e.g. htdemucs.")] = "htdemucs",
    ) -> str:
        """Remove the vocals of a song, optionally change its key, and deliver the instrumental."""
        return _preset_prompt(
            app,
            server,
            "karaoke",
            input,
            {"key_shift": key_shift, "model": model},
            f"Make a karaoke (instrumental) version of {input!r}.",
            "Then give the user the instrumental's path and say whether the key was changed.",
        )

    @server.prompt(title="Clean up a podcast")
    def clean_podcast(
        input: InputArg,
        target_lufs: Annotated[
            str, Field(description="Loudness target in LUFS (podcasts: -16, or -19 for mono).")
        ] = "",
    ) -> str:
        """Denoise speech, tame sibilance and level a podcast episode for publishing."""
        return _preset_prompt(
            app,
            server,
            "podcast-cleanup",
            input,
            {"target_lufs": target_lufs},
            f"Clean up the podcast recording {input!r} for publishing.",
            "Then report the loudness before and after and the apple_podcasts check verdict.",
        )

    @server.prompt(title="Stems to MIDI")
    def stems_to_midi(
        input: InputArg,
        model: Annotated[str, Field(description="Separation model, e.g. htdemucs.")] = "htdemucs",
    ) -> str:
        """Separate a song into stems and transcribe the bass, vocals and other parts to MIDI."""
        return _preset_prompt(
            app,
            server,
            "stems-to-midi",
            input,
            {"model": model},
            f"Turn {input!r} into MIDI: separate it, then transcribe the bass, vocals and other stems.",
            "Then list the MIDI files with their note counts (midi_inspect) so the user can pick one.",
        )

    @server.prompt(title="Prepare a DJ set")
    def prepare_dj_set(
        pattern: Annotated[str, Field(description="Which workspace files: a glob such as 'crate/*.mp3'.")] = "*.wav",
    ) -> str:
        """Analyse tracks for BPM, key (Camelot) and loudness, tag them, and suggest a running order."""
        preset = app.presets.get("dj-prep")
        per_track = f'run_preset(input=<each file>, name="dj-prep") — steps: {", ".join(preset.ops)}' if preset else ""
        return (
            f"Prepare the tracks matching {pattern!r} for a DJ set.\n\n"
            f"1. list_files(pattern={json.dumps(pattern)}) to see the tracks.\n"
            f'2. batch(op="dj_prep", pattern={json.dumps(pattern)}) for BPM, key, Camelot code and LUFS of each.\n'
            f"3. For each track: {per_track or 'write_tags with the bpm and key found'} to write BPM and key tags.\n"
            "4. Order the tracks so neighbours are Camelot-compatible (same code, ±1, or A↔B) and BPMs rise "
            "gently; show the order as a table: track, BPM, key, Camelot, LUFS."
        )

    @server.prompt(title="Analyze a track")
    def analyze_track(input: InputArg) -> str:
        """A musician's overview of a track: tempo, key, chords, structure, loudness, spectrum."""
        quoted = json.dumps(input)
        return (
            f"Analyze {input!r} for a musician.\n\n"
            f"1. analyze(input={quoted}) — BPM, key, loudness, dynamics and spectrum in one call.\n"
            f"2. detect_chords(input={quoted}) — the chord progression.\n"
            f"3. segment_structure(input={quoted}) — sections (A/B/C) with times.\n"
            f"4. detect_beats(input={quoted}) — beats and downbeats (time signature).\n"
            f'5. spectrogram(input={quoted}, scale="mel") — look at the image for frequency balance.\n\n'
            "Then summarise: tempo and feel, key and progression, form, loudness (LUFS, true peak, LRA) and "
            "anything worth fixing (clipping, harsh or muddy bands)."
        )

    @server.prompt(title="Compose and render")
    def compose_and_render(
        idea: Annotated[str, Field(description="What to write, e.g. 'a calm lo-fi loop with piano and soft drums'.")],
        key: Annotated[str, Field(description="Key, e.g. 'A minor'.")] = "C major",
        tempo_bpm: Annotated[str, Field(description="Tempo in BPM.")] = "90",
        bars: Annotated[str, Field(description="Length in bars.")] = "8",
    ) -> str:
        """Write a short piece as MIDI from an idea, render it with a SoundFont and level it."""
        return (
            f"Compose {idea!r} in {key} at {tempo_bpm} BPM, {bars} bars, and render it to audio.\n\n"
            f"1. chords_to_midi(progression=<a progression in {key}>, beats_per_chord=4) — the harmony.\n"
            f"2. drum_pattern(...) — a {bars}-bar groove that fits the idea (kick, snare, hats).\n"
            f"3. midi_compose(spec={{tempo_bpm: {tempo_bpm}, key_signature: {json.dumps(key)}, tracks: [...]}}) "
            "— melody and bass as notes (pitch names, start and duration in beats).\n"
            "4. render_midi(input=<the MIDI file>) — audio through the General MIDI SoundFont.\n"
            "5. normalize_loudness(input=<the rendered audio>, target_lufs=-14, true_peak_db=-1).\n"
            "Or do 3–5 in one call: generate_music(spec=...).\n\n"
            "Then play it back to the user (inline=true on the last call) and offer changes."
        )

    @server.resource(
        "audiolla://models",
        name="models",
        title="Models",
        description="Every known model: family, installed or not, size, licence and what it is good at.",
        mime_type="application/json",
    )
    def models_resource() -> str:
        return json.dumps([asdict(m) for m in list_models()], indent=1)

    @server.completion()
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion:
        values = _candidates(app, ref, argument.name)
        typed = argument.value.lower()
        matches = [v for v in values if v.lower().startswith(typed)] + [
            v for v in values if typed and typed in v.lower() and not v.lower().startswith(typed)
        ]
        return Completion(values=matches[:MAX_COMPLETIONS], total=len(matches), has_more=len(matches) > MAX_COMPLETIONS)


def _candidates(app: App, ref: PromptReference | ResourceTemplateReference, argument: str) -> list[str]:
    if isinstance(ref, ResourceTemplateReference):
        if ref.uri.startswith("audiolla://presets/"):
            return list(app.presets)
        if ref.uri.startswith("audiolla://jobs/"):
            return [record.id for record in app.jobs.list()]
        return [entry.path for entry in app.workspace.list()] if ref.uri.startswith("workspace://") else []
    if argument in AUDIO_ARGUMENTS:
        return [e.path for e in app.workspace.list() if e.mime_type.startswith("audio/")]
    if argument in ("name", "preset"):
        return list(app.presets)
    if argument == "key":
        return list(KEYS)
    if argument == "model":
        return [m.name for m in list_models() if m.family in ("demucs", "uvr")]
    choices: list[str] = []
    for preset in app.presets.values():
        spec = preset.params.get(argument)
        if spec is not None and spec.choices:
            choices += [str(c) for c in spec.choices if str(c) not in choices]
    return choices
