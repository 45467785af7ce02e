"""CLIP encoders: config matching the weights, weights resolution order, tensor preprocessing."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from otcore.video import encoders as E
from otcore.video import weights as W
from otcore.video.model_configs import TINY_MODEL


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Offline, empty HF cache, no weights env; any connection attempt fails the test."""
    hf_home = tmp_path / "hf-home"
    hf_home.mkdir()
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", E.WEIGHTS_ENV, E.OFFLINE_ENV, "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(hf_home))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(W, "network_allowed", lambda timeout=1.5: False)
    return hf_home


def test_openai_weights_get_the_quickgelu_config() -> None:
    assert E.resolve_config_name("ViT-B-32", "openai") == ("ViT-B-32-quickgelu", False)
    assert E.resolve_config_name("ViT-B-16", "openai") == ("ViT-B-16-quickgelu", False)
    assert E.resolve_config_name("ViT-B-32-quickgelu", "openai") == ("ViT-B-32-quickgelu", False)
    # LAION weights were trained with GELU: keep the plain config
    assert E.resolve_config_name("ViT-B-32", "laion2b_s34b_b79k") == ("ViT-B-32", False)
    assert E.resolve_config_name(TINY_MODEL, None) == (TINY_MODEL, False)


def test_quickgelu_is_forced_when_no_twin_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(E.EXTRA_PRETRAINED, "ViT-B-32-256", {"oai-like": {"quick_gelu": True}})
    assert E.resolve_config_name("ViT-B-32-256", "oai-like") == ("ViT-B-32-256", True)


def test_load_from_explicit_file(tiny_weights: Path, no_network: Path) -> None:
    enc = E.load_clip(TINY_MODEL, None, weights_file=tiny_weights, device="cpu")
    sha = hashlib.sha256(tiny_weights.read_bytes()).hexdigest()
    assert enc.weights_id == sha
    assert enc.model_id == f"{TINY_MODEL}/{sha[:12]}"
    assert enc.embed_dim == 64 and enc.image_size == (32, 32) and enc.short_side == 32
    # the weights really came from the file
    sd = torch.load(tiny_weights, weights_only=True)
    for k, v in enc.model.state_dict().items():
        assert torch.equal(v, sd[k]), k


def test_load_from_env_var(tiny_weights: Path, no_network: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(E.WEIGHTS_ENV, str(tiny_weights))
    enc = E.load_clip(TINY_MODEL, None, device="cpu")
    assert enc.weights_id == E.file_sha256(tiny_weights)


def test_explicit_file_missing_is_reported(no_network: Path, tmp_path: Path) -> None:
    with pytest.raises(E.WeightsNotFound, match="does not exist"):
        E.load_clip(TINY_MODEL, None, weights_file=tmp_path / "nope.pt")


def test_wrong_architecture_is_reported(tiny_weights: Path, no_network: Path, tmp_path: Path) -> None:
    sd = torch.load(tiny_weights, weights_only=True)
    sd["text_projection"] = torch.zeros(64, 32)  # another embedding size
    other = tmp_path / "other.pt"
    torch.save(sd, other)
    with pytest.raises(E.WeightsNotFound, match="does not match"):
        E.load_clip(TINY_MODEL, None, weights_file=other)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00" * 100)
    with pytest.raises(E.WeightsNotFound, match="cannot be read"):
        E.load_clip(TINY_MODEL, None, weights_file=garbage)


def _fill_hf_cache(hub: Path, repo: str, filename: str, payload: Path) -> Path:
    """Lay out a Hugging Face hub cache entry the way huggingface_hub writes it."""
    folder = hub / ("models--" + repo.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    blob = folder / "blobs" / hashlib.sha256(payload.read_bytes()).hexdigest()
    blob.parent.mkdir(parents=True)
    blob.write_bytes(payload.read_bytes())
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)
    snap = folder / "snapshots" / commit / filename
    snap.parent.mkdir(parents=True)
    os.symlink(os.path.relpath(blob, snap.parent), snap)
    return snap


def test_load_from_hf_cache_offline(
    tiny_weights: Path, no_network: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors.torch import save_file

    st = tmp_path / "open_clip_model.safetensors"
    save_file(torch.load(tiny_weights, weights_only=True), str(st))
    monkeypatch.setitem(
        E.EXTRA_PRETRAINED,
        TINY_MODEL,
        {"testtag": {"hf_hub": "otstudio-test/tiny-clip/", "quick_gelu": True}},
    )
    snap = _fill_hf_cache(no_network / "hub", "otstudio-test/tiny-clip", "open_clip_model.safetensors", st)
    found = E.resolve_weights(TINY_MODEL, "testtag")
    assert found.source == "hf-cache" and Path(found.path) == snap
    enc = E.load_clip(TINY_MODEL, "testtag", device="cpu")
    assert enc.model_id == f"{TINY_MODEL}/testtag"
    assert enc.weights_id == hashlib.sha256(st.read_bytes()).hexdigest()
    ref = E.load_clip(TINY_MODEL, None, weights_file=tiny_weights, device="cpu")
    x = np.random.default_rng(0).integers(0, 256, (3, 40, 60, 3), dtype=np.uint8)
    torch.testing.assert_close(enc.encode_images(x), ref.encode_images(x))


def test_openai_resolution_looks_in_the_hf_cache(no_network: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake.safetensors"
    fake.write_bytes(b"not loaded in this test")
    snap = _fill_hf_cache(
        no_network / "hub", "timm/vit_base_patch32_clip_224.openai", "open_clip_model.safetensors", fake
    )
    found = E.resolve_weights("ViT-B-32", "openai")
    assert found.source == "hf-cache" and Path(found.path) == snap


def test_nothing_found_fails_fast_with_instructions(no_network: Path) -> None:
    with pytest.raises(E.WeightsNotFound) as err:
        E.load_clip("ViT-B-32", "openai")
    msg = str(err.value)
    assert "ViT-B-32 (openai)" in msg
    assert str(no_network / "hub") in msg  # where it looked
    assert "timm/vit_base_patch32_clip_224.openai" in msg
    assert E.WEIGHTS_ENV in msg  # how to put a file in place
    assert "download skipped" in msg


def test_offline_env_skips_the_network_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network probed although offline was requested")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv(E.OFFLINE_ENV, "1")
    assert E.network_allowed() is False


def test_unknown_tag(no_network: Path) -> None:
    with pytest.raises(E.WeightsNotFound, match="knows no pretrained weights"):
        E.resolve_weights("ViT-B-32", "no-such-tag")


def test_encode_images_and_text(tiny_encoder: E.ClipEncoder) -> None:
    frames = np.random.default_rng(0).integers(0, 256, (5, 48, 80, 3), dtype=np.uint8)
    a = tiny_encoder.encode_images(frames)
    b = tiny_encoder.encode_images(torch.from_numpy(frames))
    assert a.shape == (5, 64) and a.dtype == torch.float32
    torch.testing.assert_close(a.norm(dim=-1), torch.ones(5))
    torch.testing.assert_close(a, b)
    # batching does not change the result
    torch.testing.assert_close(
        torch.cat([tiny_encoder.encode_images(frames[:2]), tiny_encoder.encode_images(frames[2:])]),
        a,
        atol=1e-5,
        rtol=1e-4,
    )
    t = tiny_encoder.encode_text(["a person jumps", "tennis swing", "pouring coffee"])
    assert t.shape == (3, 64)
    torch.testing.assert_close(t.norm(dim=-1), torch.ones(3))
    assert not torch.allclose(t[0], t[1])
    with pytest.raises(ValueError):
        tiny_encoder.encode_images(frames[..., :2])


def test_tensor_preprocess_matches_open_clip_transform(tiny_encoder: E.ClipEncoder) -> None:
    """Batched torch preprocessing ~ open_clip's PIL pipeline (resize short side, crop, normalize)."""
    import open_clip
    from PIL import Image

    _, _, val = open_clip.create_model_and_transforms(TINY_MODEL, pretrained=None)
    yy, xx = np.mgrid[0:90, 0:160]
    img = np.stack([xx * 255 // 160, yy * 255 // 90, (xx + yy) % 256], -1).astype(np.uint8)
    ours = tiny_encoder.preprocess(img[None])[0]
    ref = val(Image.fromarray(img))
    assert ours.shape == ref.shape == (3, 32, 32)
    assert (ours - ref).abs().mean() < 0.05


def test_random_weights_for_benchmarks() -> None:
    enc = E.load_clip(TINY_MODEL, None, random_weights=True, device="cpu")
    assert enc.weights_id == "random" and enc.model_id.endswith("/random")


def test_image_only_frees_the_text_tower(tiny_weights: Path, tiny_encoder: E.ClipEncoder) -> None:
    enc = E.load_clip(TINY_MODEL, None, weights_file=tiny_weights, device="cpu", image_only=True)
    n_full = sum(p.numel() for p in tiny_encoder.model.parameters())
    n_img = sum(p.numel() for p in enc.model.parameters())
    assert (
        n_img < n_full and enc.embed_dim == tiny_encoder.embed_dim and enc.model_id == tiny_encoder.model_id
    )
    frames = np.random.default_rng(1).integers(0, 256, (2, 40, 50, 3), dtype=np.uint8)
    torch.testing.assert_close(enc.encode_images(frames), tiny_encoder.encode_images(frames))
    with pytest.raises(RuntimeError, match="image_only"):
        enc.encode_text(["x"])


def test_loading_leaves_the_root_logger_alone(tiny_weights: Path, no_network: Path) -> None:
    """Loading weights installs no filter on the root logger (nor leaves one behind)."""
    import logging

    before = list(logging.getLogger().filters)
    E.load_clip(TINY_MODEL, None, weights_file=tiny_weights, device="cpu")
    assert logging.getLogger().filters == before


def test_one_sha256_helper(tmp_path: Path) -> None:
    from otcore import hashing
    from otcore.video import features

    f = tmp_path / "x.bin"
    f.write_bytes(b"abc" * 1000)
    want = hashlib.sha256(b"abc" * 1000).hexdigest()
    assert hashing.sha256_file(f) == E.file_sha256(f) == features.sha256_file(f) == want
    assert hashing.sha256_text("abc") == hashlib.sha256(b"abc").hexdigest()
    f.write_bytes(b"changed")  # rewritten: size and mtime change, the memo does not return a stale hash
    assert hashing.sha256_file(f) == hashlib.sha256(b"changed").hexdigest()


def test_int8_quantization_on_cpu(
    tiny_weights: Path, no_network: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``quantize="int8"`` quantizes the image tower's linear layers, names the model apart and keeps
    the features close to full precision on the tiny test model; a bad value is a clear error."""
    full = E.load_clip(TINY_MODEL, None, weights_file=tiny_weights, device="cpu", image_only=True)
    q = E.load_clip(
        TINY_MODEL, None, weights_file=tiny_weights, device="cpu", image_only=True, quantize="int8"
    )
    assert q.model_id == full.model_id + "+int8" and q.weights_id == full.weights_id
    quantized = [m for m in q.model.visual.modules() if "quantized" in type(m).__module__]
    assert quantized, "no linear layer of the image tower was quantized"
    frames = np.random.default_rng(0).integers(0, 255, size=(6, 64, 80, 3), dtype=np.uint8)
    a, b = full.encode_images(frames), q.encode_images(frames)
    cos = (a * b).sum(-1)
    assert float(cos.min()) > 0.9  # the tiny random model; the real-weights number is not measured here
    with pytest.raises(ValueError, match="quantize"):
        E.load_clip(TINY_MODEL, None, weights_file=tiny_weights, device="cpu", quantize="int4")
    from otcore.settings import load_settings

    monkeypatch.setenv("OTSTUDIO_QUANTIZE", "int8")
    assert load_settings().quantize == "int8"
    monkeypatch.setenv("OTSTUDIO_QUANTIZE", "bogus")
    with pytest.raises(ValueError, match="OTSTUDIO_QUANTIZE"):
        load_settings()
