"""Workspace escapes: every path-taking parameter of every exposed tool against the corpus.

The parameters are found in the advertised input schemas (by name and description), so a tool
that lands later is covered without touching this file. Every hostile value must be refused,
nothing outside the workspace may be read, changed or created, and no refusal may be an
unexpected exception.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from .sandbox import CORPUS, SECRET_SECONDS, Sandbox, seed_base64
from .schemas import Builder, PathParam, benign, path_params
from .sessions import Session, build, direct_session, session

HINTS = {
    "write_tags": {"tags": {"title": "x"}},
    "time_stretch": {"tempo_factor": 1.1},
}
"""Arguments a tool needs before it looks at its paths (nothing to do without them)."""

KNOWN = {
    "put_file:path", "get_file:path", "move_file:source", "move_file:destination", "trim:input", "trim:output",
    "concat:inputs[]", "mix:tracks[].input", "split:folder", "convolution_reverb:ir", "sidechain_duck:trigger",
    "fx_chain:effects[].ir", "render_midi:input", "render_midi:soundfont", "generate_music:midi_output",
    "master:reference", "separate_stems:output_names{}", "list_files:prefix", "run_pipeline:steps[].params.input",
}
"""Path parameters the discovery must find (those of tools that are exposed)."""


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    return Sandbox.create(tmp_path_factory.mktemp("escapes"))


@pytest.fixture(scope="module")
def built(box: Sandbox) -> Iterator[tuple]:
    server, app = build(box)
    yield server, app
    app.jobs.shutdown()


@pytest.fixture(scope="module")
def direct(built: tuple) -> Iterator[Session]:
    with direct_session(*built) as connected:
        yield connected


@pytest.fixture(scope="module")
def client(built: tuple) -> Iterator[Session]:
    with session(built[0]) as connected:
        connected.app = built[1]
        yield connected


@pytest.fixture(scope="module")
def params(box: Sandbox, direct: Session) -> list[tuple[PathParam, Builder]]:
    found = []
    for tool, schema in direct.schemas().items():
        builder = Builder(tool, schema, seed_base64(box), HINTS.get(tool))
        found += [(param, builder) for param in path_params(tool, schema)]
    return found


def visible(root: Path) -> set[str]:
    """Files and links in the workspace, the server's own state aside."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if not p.is_dir() and not p.relative_to(root).as_posix().startswith(".audiolla")}


def test_corpus_has_every_family_of_escape() -> None:
    ids = [case.id for case in CORPUS]
    assert len(ids) >= 40 and len(set(ids)) == len(ids)
    for family in ("dotdot", "absolute", "uri-", "encoded", "backslash", "drive", "nul", "overlong", "fullwidth",
                   "symlink-file", "symlink-dir", "hard-link", "fifo", "home"):
        assert any(i.startswith(family) for i in ids), family


def test_discovery_finds_every_kind_of_path_parameter(params: list[tuple[PathParam, Builder]], direct: Session) -> None:
    labels = {param.label for param, _ in params}
    exposed = set(direct.schemas())
    expected = {label for label in KNOWN if label.split(":")[0] in exposed}
    assert expected <= labels, sorted(expected - labels)
    assert len(labels) >= 100
    assert not any(label.endswith((":input_base64", ":input_format", ":overwrite")) for label in labels)


PATH_REFUSALS = (
    "is empty", "is a URL", "control character", "URL-encoded", "is absolute", "names the workspace root",
    "leaves the workspace", "names a hidden file", "longer than", "resolves outside", "hidden or internal",
    "not a regular file", "hard link", "is a folder", "should have at most",
)
"""How the workspace words a refused path: a refusal for any other reason proves nothing."""


def test_every_path_parameter_refuses_the_whole_corpus(box: Sandbox, direct: Session,
                                                      params: list[tuple[PathParam, Builder]]) -> None:
    before, files = box.snapshot(), visible(box.workspace)
    calls, labels = [], []
    for param, builder in params:
        for case in CORPUS:
            calls.append((param.tool, builder.arguments(param.locator, case.value(box, param.ext))))
            labels.append((param.label, case.id))
    outcomes = direct.call_many(calls, timeout_s=60, concurrency=8, queues=[label for label, _ in labels])

    accepted = [(label, outcome.verdict, outcome.text[:120]) for label, outcome in zip(labels, outcomes)
                if outcome.verdict != "error"]
    assert not accepted, f"{len(accepted)} of {len(calls)} hostile calls not refused: {accepted[:15]}"
    assert not [label for label, outcome in zip(labels, outcomes) if f"{SECRET_SECONDS:.2f} s" in outcome.text]
    assert box.snapshot() == before
    assert visible(box.workspace) == files
    assert box.leftovers() == []
    unexplained = {label for (label, _), outcome in zip(labels, outcomes)
                   if not any(reason in outcome.text for reason in PATH_REFUSALS)}
    assert_refused_whatever_the_value(direct, params, unexplained)
    print(f"\n{len(calls)} hostile calls over {len(params)} path parameters x {len(CORPUS)} cases: all refused "
          f"({len(unexplained)} parameters refuse any value)")


def assert_refused_whatever_the_value(direct: Session, params: list[tuple[PathParam, Builder]], labels: set[str]) -> None:
    """A parameter whose hostile values were refused for another reason must refuse a good value
    the same way (e.g. batch's params may not set input at all); otherwise that reason may hide
    a missing path check."""
    for param, builder in params:
        if param.label in labels:
            outcome = direct.call(param.tool, builder.arguments(param.locator, benign(param) or "seed.wav"), timeout_s=120)
            assert outcome.verdict == "error" and not any(r in outcome.text for r in PATH_REFUSALS), (
                f"{param.label}: hostile values were refused for a reason that a good value does not share: {outcome.text[:200]}")


def test_resource_reads_refuse_the_corpus(box: Sandbox, client: Session) -> None:
    for case in CORPUS:
        value = case.value(box, "wav")
        uri = value if value.lower().startswith("workspace://") else "workspace://" + value
        with pytest.raises((MCPError, ValueError)):
            client.run(client.client.read_resource, uri)


def test_real_client_refuses_escapes_on_inputs_and_outputs(box: Sandbox, client: Session) -> None:
    """The corpus once more over the wire, on the first input and output parameters."""
    schemas = client.schemas()
    builder = Builder("trim", schemas["trim"], seed_base64(box))
    calls = [("trim", builder.arguments((("prop", name),), case.value(box, "wav")))
             for name in ("input", "output") for case in CORPUS]
    outcomes = client.call_many(calls, timeout_s=60, concurrency=4, queues=[str(i % 4) for i in range(len(calls))])
    assert [o.verdict for o in outcomes] == ["error"] * len(calls)
    assert all("Traceback" not in o.text for o in outcomes)


def test_globs_never_list_outside_files(client: Session) -> None:
    for pattern in ("../*", "../outside/*", "**/secret*", "*secret*", "/*", "link_dir/*"):
        outcome = client.call("list_files", {"pattern": pattern})
        assert outcome.verdict == "result"
        assert not [f["path"] for f in outcome.structured["files"] if "secret" in f["path"]], pattern


def test_empty_optional_paths_mean_the_default(box: Sandbox, client: Session) -> None:
    listed = client.call("list_files", {"prefix": ""})
    assert listed.verdict == "result" and "seed.wav" in [f["path"] for f in listed.structured["files"]]
    refused = client.call("audio_info", {"input": ""})
    assert refused.verdict == "error" and "empty" in refused.text


# -- regressions for what the corpus found in the shared workspace code ------------------------


def test_percent_encoded_separators_are_refused_in_plain_paths_and_uris(client: Session) -> None:
    for value in ("%2e%2e%2foutside%2fsecret.wav", "workspace://%252e%252e/outside/secret.wav", "a%5cb.wav", "a%00.wav"):
        outcome = client.call("put_file", {"path": value, "data_base64": base64.b64encode(b"x").decode()})
        assert outcome.verdict == "error" and "URL-encoded" in outcome.text, value


def test_links_into_the_internal_folder_are_refused(box: Sandbox, client: Session) -> None:
    outcome = client.call("put_file", {"path": "internal/jobs/x.json", "data_base64": "e30="})
    assert outcome.verdict == "error" and "hidden or internal" in outcome.text
    assert not (box.workspace / ".audiolla" / "jobs" / "x.json").exists()


def test_uris_of_names_with_percent_signs_round_trip(box: Sandbox, client: Session) -> None:
    """'a%20b.wav' must not be read as 'a b.wav' through its own URI."""
    for name, payload in (("a%20b.txt", b"percent"), ("a b.txt", b"space")):
        stored = client.call("put_file", {"path": name, "data_base64": base64.b64encode(payload).decode()})
        assert stored.verdict == "result", stored.text
    try:
        uri = client.call("get_file", {"path": "a%20b.txt"}).structured["uri"]
        assert uri == "workspace://a%2520b.txt"
        read = client.run(client.client.read_resource, uri)
        assert base64.b64decode(read.contents[0].blob) == b"percent"
        assert client.call("get_file", {"path": uri}).structured["path"] == "a%20b.txt"
    finally:
        for name in ("a%20b.txt", "a b.txt"):
            (box.workspace / name).unlink()


def test_a_file_in_place_of_a_folder_is_a_clean_error(box: Sandbox, client: Session) -> None:
    for args in ({"input": "seed.wav", "folder": "seed.mid"}, {"input": "seed.wav", "folder": "fifo.wav/x"}):
        outcome = client.call("split", args)
        assert outcome.verdict == "error", outcome.text
    moved = client.call("move_file", {"source": "seeds/seed.wav", "destination": "seed.mid/x.wav"})
    assert moved.verdict == "error" and "existing file" in moved.text
    assert (box.workspace / "seeds" / "seed.wav").is_file()


def test_bad_outputs_are_refused_before_the_work_starts(client: Session) -> None:
    """A bad output name fails at once, not after minutes of work: the engine is never loaded."""
    assert client.call("unload_engines", {}).verdict == "result"
    outcome = client.call("enhance_speech", {"input": "seed.wav", "output": "../outside/x.wav", "background": True})
    assert outcome.verdict == "error" and "leaves the workspace" in outcome.text
    assert client.call("list_engines", {}).structured["engines"] == []
    assert client.call("job_list", {}).structured["jobs"] == []
