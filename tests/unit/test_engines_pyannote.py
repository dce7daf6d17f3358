"""pyannote diarization through Pipeline.from_pretrained on a community-1 style local dir."""

from __future__ import annotations

import numpy as np
import pytest
from model_fixtures import isolated_home, write_pyannote_dir

from audiolla_mcp.engines import pyannote
from audiolla_mcp.engines.base import list_engines
from audiolla_mcp.errors import Cancelled, ToolError
from audiolla_mcp.models import add
from audiolla_mcp.progress import CancelToken

pytestmark = [pytest.mark.usefixtures("isolated_home"), pytest.mark.slow]
assert isolated_home


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory):
    return write_pyannote_dir(tmp_path_factory.mktemp("pyannote") / "diarization")


def test_pipeline_from_a_local_dir_labels_the_known_single_speaker(pipeline_dir):
    add("tinydiar", pipeline_dir, family="pyannote")
    audio = (0.1 * np.random.default_rng(0).standard_normal((2, 22050 * 12))).astype(np.float32)
    steps = []
    result = pyannote.diarize(audio, 22050, model="tinydiar",
                              progress=lambda d, t, m=None: steps.append(m))
    assert result.num_speakers == 1 and result.segment_count >= 1
    assert result.speakers[0]["speech_s"] == pytest.approx(12.0, abs=0.5)
    assert result.segments[0]["start_s"] < 0.5 and result.segments[-1]["end_s"] > 11.5
    assert "segmentation" in steps and "embeddings" in steps
    [engine] = [e for e in list_engines() if e.family == "pyannote"]
    assert engine.memory_mb > 20  # WeSpeakerResNet34 alone is ~26 MB of float32 weights

    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        pyannote.diarize(audio, 22050, model="tinydiar", cancel=token)


def test_missing_pipeline_asks_for_a_token_and_the_pull():
    with pytest.raises(ToolError, match="pyannote-diarization is not installed.*HF_TOKEN"):
        pyannote.diarize(np.zeros((1, 16000), np.float32), 16000)


def test_a_dir_without_checkpoints_is_a_clear_error(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.yaml").write_text("pipeline:\n  name: pyannote.audio.pipelines.SpeakerDiarization\n"
                                        "  params:\n    segmentation: $model/segmentation\n")
    add("brokendiar", folder, family="pyannote")
    with pytest.raises(ToolError, match="brokendiar could not be loaded"):
        pyannote.diarize(np.zeros((1, 16000), np.float32), 16000, model="brokendiar")
