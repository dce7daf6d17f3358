"""Real model architectures with random weights, written in each library's own format, and
an isolated cache environment so no test touches ~/.cache or the network."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import pytest

FOUR_STEMS = ["drums", "bass", "other", "vocals"]


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """HOME and every library cache in a temp dir; hub lookups offline; downloads off."""
    home = tmp_path / "home"
    home.mkdir()
    for var, sub in (("HOME", ""), ("XDG_CACHE_HOME", ".cache"), ("TORCH_HOME", ".cache/torch"),
                     ("HF_HOME", ".cache/huggingface")):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("AUDIOLLA_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("AUDIOLLA_AUTO_DOWNLOAD", raising=False)
    yield home
    from audiolla_mcp.engines.base import ENGINES
    from audiolla_mcp.engines.process import ENGINE_PROCESS

    ENGINES.unload_all()
    ENGINE_PROCESS.stop()  # its engines came from this test's model cache


def tiny_htdemucs_kwargs(sources: list[str] = FOUR_STEMS) -> dict:
    """The htdemucs architecture at toy width: same code paths, ~0.1 M parameters."""
    return {"sources": sources, "audio_channels": 2, "samplerate": 44100,
            "segment": Fraction(1, 1), "channels": 8, "depth": 3, "nfft": 2048, "dconv_comp": 4,
            "t_layers": 1, "t_heads": 2, "dconv_mode": 3, "bottom_channels": 0, "t_dropout": 0.0}


def full_htdemucs_kwargs() -> dict:
    """Exactly htdemucs' published hyper-parameters (41,984,456 parameters)."""
    return {"sources": FOUR_STEMS, "audio_channels": 2, "samplerate": 44100,
            "segment": Fraction(39, 5), "channels": 48, "depth": 4, "dconv_mode": 3, "t_layers": 5,
            "t_dropout": 0.02, "bottom_channels": 512}


def write_demucs_repo(folder: Path, name: str, kwargs: dict, seed: int = 0,
                      members: int = 1, weights: list[list[float]] | None = None) -> Path:
    """A demucs model repo as demucs publishes them: `<sig>.th` packages + `<name>.yaml` bag."""
    import torch
    import yaml
    from demucs.htdemucs import HTDemucs
    from demucs.states import get_state

    folder.mkdir(parents=True, exist_ok=True)
    signatures = []
    for index in range(members):
        torch.manual_seed(seed + index)
        model = HTDemucs(**kwargs)
        signature = f"{seed + index:08x}"
        package = {"klass": HTDemucs, "args": (), "kwargs": kwargs, "state": get_state(model, None)}
        torch.save(package, folder / f"{signature}.th")
        signatures.append(signature)
    bag = {"models": signatures}
    if weights is not None:
        bag["weights"] = weights
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(bag))
    return folder


TINY_ROFORMER = {
    "audio": {"chunk_size": 44100, "dim_f": 1024, "dim_t": 101, "hop_length": 441, "n_fft": 2048,
              "num_channels": 2, "sample_rate": 44100, "min_mean_abs": 0.0},
    "model": {"dim": 16, "depth": 1, "stereo": True, "num_stems": 1, "time_transformer_depth": 1,
              "freq_transformer_depth": 1, "num_bands": 8, "dim_head": 8, "heads": 2,
              "attn_dropout": 0.0, "ff_dropout": 0.0, "flash_attn": True, "dim_freqs_in": 1025,
              "sample_rate": 44100, "stft_n_fft": 2048, "stft_hop_length": 441,
              "stft_win_length": 2048, "stft_normalized": False, "mask_estimator_depth": 1},
    "training": {"instruments": ["vocals", "other"], "target_instrument": "vocals"},
    "inference": {"batch_size": 1, "dim_t": 101, "num_overlap": 2},
}


def write_roformer_dir(folder: Path, name: str = "tiny_mel_roformer", seed: int = 0) -> Path:
    """A Mel-Band Roformer (audio-separator's own class) at toy size: `<name>.ckpt` state dict
    + `<name>.yaml` config, the layout UVR publishes Roformer models in."""
    import torch
    import yaml
    from audio_separator.separator.uvr_lib_v5.roformer.mel_band_roformer import (
        MelBandRoformer,
    )

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = MelBandRoformer(**{k: v for k, v in TINY_ROFORMER["model"].items() if k != "dim_freqs_in"})
    torch.save(model.state_dict(), folder / f"{name}.ckpt")
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(TINY_ROFORMER))
    return folder


AST_LABELS = ["Speech", "Music", "Siren", "Dog", "Guitar"]


def write_ast_dir(folder: Path, seed: int = 0) -> Path:
    """ASTForAudioClassification at toy width, saved with `save_pretrained` + its extractor."""
    import torch
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    torch.manual_seed(seed)
    config = ASTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=64, num_labels=len(AST_LABELS),
                       id2label=dict(enumerate(AST_LABELS)),
                       label2id={n: i for i, n in enumerate(AST_LABELS)})
    ASTForAudioClassification(config).save_pretrained(folder)
    ASTFeatureExtractor().save_pretrained(folder)
    return folder


def write_clap_dir(folder: Path, seed: int = 0) -> Path:
    """ClapModel at toy width (HTSAT audio tower + RoBERTa text tower) with a byte-level BPE
    tokenizer trained on a few words, all saved the way the hub stores CLAP."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import (
        ClapAudioConfig,
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapProcessor,
        ClapTextConfig,
        RobertaTokenizerFast,
    )

    folder.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(["a dog barking", "a siren wailing", "piano music", "rain noise",
                             "people talking", "electric guitar"] * 20, vocab_size=300,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(folder))
    tokenizer = RobertaTokenizerFast(vocab_file=str(folder / "vocab.json"),
                                     merges_file=str(folder / "merges.txt"))
    torch.manual_seed(seed)
    config = ClapConfig(
        text_config=ClapTextConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1,
                                   num_attention_heads=2, intermediate_size=64,
                                   max_position_embeddings=80, projection_dim=16).to_dict(),
        audio_config=ClapAudioConfig(patch_embeds_hidden_size=16, hidden_size=128,
                                     depths=[1, 1, 1, 1], num_attention_heads=[1, 2, 4, 8],
                                     projection_dim=16).to_dict(),
        projection_dim=16)
    ClapModel(config).save_pretrained(folder)
    ClapProcessor(feature_extractor=ClapFeatureExtractor(), tokenizer=tokenizer).save_pretrained(folder)
    return folder


def _save_pyannote_checkpoint(model, folder: Path) -> None:
    """What Lightning writes for a pyannote model: weights, hyper-parameters, and the
    `pyannote.audio` block (`Model.on_save_checkpoint`) that `Model.from_pretrained` reads."""
    import lightning
    import torch

    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                  "pytorch-lightning_version": lightning.__version__}
    model.on_save_checkpoint(checkpoint)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, folder / "pytorch_model.bin")


PYANNOTE_PIPELINE = {
    "pipeline": {"name": "pyannote.audio.pipelines.SpeakerDiarization",
                 "params": {"clustering": "VBxClustering", "embedding": "$model/embedding",
                            "embedding_batch_size": 32, "embedding_exclude_overlap": True,
                            "plda": "$model/plda", "segmentation": "$model/segmentation",
                            "segmentation_batch_size": 32}},
    "params": {"clustering": {"threshold": 0.6, "Fa": 0.07, "Fb": 0.8},
               "segmentation": {"min_duration_off": 0.0}},
}


def write_pyannote_dir(folder: Path, seed: int = 0, lstm_hidden: int = 32) -> Path:
    """speaker-diarization-community-1's layout: config.yaml, segmentation/ (PyanNet, powerset
    over 3 speakers), embedding/ (WeSpeakerResNet34), plda/ (random but valid PLDA npz).
    The segmentation classifier is biased to "speaker#1 alone" so the output is known: one
    speaker talking all the time."""
    import numpy as np
    import torch
    import yaml
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import WeSpeakerResNet34
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(seed)
    segmentation = PyanNet(sincnet={"stride": 10}, lstm={"hidden_size": lstm_hidden, "num_layers": 2},
                           linear={"hidden_size": 32, "num_layers": 2})
    segmentation.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION, resolution=Resolution.FRAME, duration=10.0,
        classes=["speaker#1", "speaker#2", "speaker#3"], powerset_max_classes=2,
        permutation_invariant=True)
    segmentation.build()
    with torch.no_grad():
        segmentation.classifier.weight.zero_()
        segmentation.classifier.bias.fill_(-10.0)
        segmentation.classifier.bias[1] = 10.0
    _save_pyannote_checkpoint(segmentation, folder / "segmentation")
    embedding = WeSpeakerResNet34()
    embedding.specifications = Specifications(problem=Problem.REPRESENTATION,
                                              resolution=Resolution.CHUNK, duration=10.0)
    _save_pyannote_checkpoint(embedding, folder / "embedding")
    rng = np.random.default_rng(seed)
    dim, lda = 256, 128
    (folder / "plda").mkdir(parents=True, exist_ok=True)
    np.savez(folder / "plda" / "xvec_transform.npz", mean1=rng.standard_normal(dim) * 0.01,
             mean2=rng.standard_normal(lda) * 0.01, lda=rng.standard_normal((dim, lda)) / np.sqrt(dim))
    q, _ = np.linalg.qr(rng.standard_normal((lda, lda)))
    np.savez(folder / "plda" / "plda.npz", mu=np.zeros(lda), tr=q, psi=np.linspace(5.0, 0.1, lda))
    (folder / "config.yaml").write_text(yaml.safe_dump(PYANNOTE_PIPELINE))
    return folder
