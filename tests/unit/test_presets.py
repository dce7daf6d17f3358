"""Preset files: loading, start-up errors with file and line, parameters, references."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from audiolla_mcp.errors import ToolError
from audiolla_mcp.presets import MAX_STEPS, load_presets, parse_preset, parse_ref, substitute

BUILT_IN = {"master-for-streaming", "podcast-cleanup", "vocal-cleanup", "karaoke", "stems-to-midi", "dj-prep", "lofi"}

GOOD = """\
title: Trim and level
description: Cut the start, then level.
params:
  start:
    type: number
    default: 0.5
    min: 0
    max: 10
    description: Seconds cut from the start.
  target:
    type: number
    default: -16
    description: Loudness target.
steps:
  - id: cut
    op: trim
    params: {start_s: "${start}"}
  - id: level
    op: normalize_loudness
    params: {target_lufs: "${target}"}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_every_built_in_preset_loads_documented_and_parameterised():
    presets = load_presets()
    assert BUILT_IN <= set(presets)
    for preset in presets.values():
        assert preset.title and len(preset.description) > 40 and preset.promise, preset.name
        assert all(spec.description for spec in preset.params.values()), preset.name
        assert all(not spec.required for spec in preset.params.values()), (
            f"{preset.name}: every parameter has a default"
        )
    assert presets["master-for-streaming"].bind({})["target_lufs"] == -14.0
    assert presets["master-for-streaming"].ops == ["eq", "multiband_compress", "normalize_loudness", "check_delivery"]


def test_a_good_preset_parses_with_step_locations(tmp_path):
    preset = parse_preset(write(tmp_path, "trim-level", GOOD))
    assert [s.id for s in preset.steps] == ["cut", "level"]
    assert preset.steps[1].where.endswith("trim-level.yaml:18: step 2 'level'")
    assert preset.bind({"target": "-20"}) == {"start": 0.5, "target": -20.0}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("title: x\ndescription: y\nsteps:\n  - op: trim\n    params: {start_s: 1\n", 6, "not valid YAML"),
        ("title: x\ndescription: y\nsteps:\n  - op: trim\n  - op: no_such_tool\n", 5, "unknown op 'no_such_tool'"),
        (
            "title: x\ndescription: y\nsteps:\n  - id: a\n    op: trim\n    params: {start_s: '${steps.b.output.path}'}\n"
            "  - id: b\n    op: trim\n",
            4,
            "refers to step 'b', which does not run before this one",
        ),
        (
            "title: x\ndescription: y\nsteps:\n  - id: a\n    op: trim\n    params: {end_s: '${steps.a.end_s}'}\n",
            4,
            "refers to the step itself",
        ),
        ("title: x\ndescription: y\nsteps:\n  - op: trim\n    params: {start_s: '${nope}'}\n", 4, "names no parameter"),
        (
            "title: x\ndescription: y\nsteps:\n  - op: trim\n    params: {output: x.wav}\n",
            4,
            "output cannot be set on a step",
        ),
        ("title: x\ndescription: y\ntitle: z\nsteps:\n  - op: trim\n", 3, "'title' appears twice"),
        (
            "title: x\ndescription: y\nparams:\n  gain:\n    type: number\n    default: loud\n    description: g\nsteps:\n  - op: trim\n",
            4,
            "default: 'loud' is not a number",
        ),
        ("title: x\ndescription: y\nsteps:\n  - op: trim\n    colour: red\n", 5, "Extra inputs are not permitted"),
        ("title: x\ndescription: y\nsteps:\n  - op: run_preset\n", 4, "cannot run inside a pipeline"),
        (
            "title: x\ndescription: y\nsteps:\n  - op: trim\n    params: {start_s: '${start|loud}'}\n",
            4,
            "unknown filter",
        ),
        ("title: x\ndescription: y\nsteps:\n  - op: trim\noutputs: [elsewhere]\n", 5, "not a step id"),
        ("title: x\nsteps:\n  - op: trim\n", 1, "description: Field required"),
    ],
)
def test_invalid_presets_name_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ToolError) as caught:
        parse_preset(path)
    assert f"broken.yaml:{line}:" in str(caught.value)
    assert message in str(caught.value)


def test_too_many_steps_is_refused(tmp_path):
    steps = "".join("  - op: trim\n" for _ in range(MAX_STEPS + 1))
    path = tmp_path / "long.yaml"
    path.write_text("title: x\ndescription: y\nsteps:\n" + steps)
    with pytest.raises(ToolError, match=f"long.yaml:3: steps: List should have at most {MAX_STEPS}"):
        parse_preset(path)


def test_start_up_lists_every_invalid_file_and_user_presets_replace_built_ins(tmp_path):
    write(tmp_path, "lofi", GOOD)
    presets = load_presets(tmp_path)
    assert presets["lofi"].title == "Trim and level" and "karaoke" in presets
    write(tmp_path, "a-bad", "title: x\ndescription: y\nsteps:\n  - op: nope\n")
    write(tmp_path, "b-bad", "title: [\n")
    with pytest.raises(ToolError) as caught:
        load_presets(tmp_path)
    assert "a-bad.yaml:4:" in str(caught.value) and "b-bad.yaml:" in str(caught.value)


@pytest.mark.slow
def test_the_server_refuses_to_start_with_an_invalid_preset(tmp_path):
    write(tmp_path, "oops", "title: x\ndescription: y\nsteps:\n  - op: trim\n  - op: mystery\n")
    started = subprocess.run(
        [sys.executable, "-m", "audiolla_mcp", "--workspace", str(tmp_path / "ws"), "--presets-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert started.returncode == 2
    assert "oops.yaml:5:" in started.stderr and "unknown op 'mystery'" in started.stderr


def test_parameters_are_typed_and_checked(tmp_path):
    preset = parse_preset(write(tmp_path, "trim-level", GOOD))
    assert preset.bind({"start": 2}) == {"start": 2.0, "target": -16.0}
    with pytest.raises(ToolError, match="outside 0.0…10.0"):
        preset.bind({"start": 11})
    with pytest.raises(ToolError, match="is not a number"):
        preset.bind({"start": "soon"})
    with pytest.raises(ToolError, match="has no parameter 'speed'; its parameters: start, target"):
        preset.bind({"speed": 2})
    karaoke = load_presets()["karaoke"]
    assert karaoke.bind({"key_shift": "-2"})["key_shift"] == -2
    with pytest.raises(ToolError, match="is not an integer"):
        karaoke.bind({"key_shift": 1.5})
    streaming = load_presets()["master-for-streaming"]
    with pytest.raises(ToolError, match="not one of spotify"):
        streaming.bind({"platform": "myspace"})


def test_substitution_keeps_types_formats_text_and_selects_items():
    results = {
        "sep": {"outputs": [{"stem": "vocals", "path": "v.wav"}, {"stem": "bass", "path": "b.wav"}]},
        "beats": {"bpm": 127.6},
    }
    values = {"gain": -3.0, "name": "song"}

    def lookup(ref):
        if ref.root == "param":
            return values[ref.name]
        value = results[ref.name]
        for part in ref.path:
            if isinstance(part, tuple):
                value = next(item for item in value if str(item[part[0]]) == part[1])
            else:
                value = value[part]
        return value

    given = {
        "gain_db": "${gain}",
        "title": "${name} at ${steps.beats.bpm|round} BPM",
        "bass": "${steps.sep.outputs[stem=bass].path}",
        "first": ["${steps.sep.outputs[0].stem}"],
        "bpm": "${steps.beats.bpm|round|text}",
        "literal": "$${not a ref}",
    }
    assert substitute(given, lookup) == {
        "gain_db": -3.0,
        "title": "song at 128 BPM",
        "bass": "b.wav",
        "first": ["vocals"],
        "bpm": "128",
        "literal": "${not a ref}",
    }


@pytest.mark.parametrize("text", ["steps.", "steps.a..b", "prev.x[", "1abc", "steps.a.x[y"])
def test_malformed_references_are_refused(text):
    with pytest.raises(ValueError):
        parse_ref(text)
