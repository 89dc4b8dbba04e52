"""SyncNet: the official state-dict layout, loading and saving, identification by git blob id."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from avsync.lipsync import model as model_mod  # noqa: E402
from avsync.lipsync.model import InferenceSyncNet, SyncNet, SyncNetConfig, git_blob_id, load_syncnet, random_syncnet, save_syncnet  # noqa: E402


def _official_spec() -> dict[str, tuple[int, ...]]:
    """The 102 tensors of syncnet_v2.model, written out from the published architecture."""
    spec: dict[str, tuple[int, ...]] = {}

    def conv(prefix, idx, shape):
        spec[f"{prefix}.{idx}.weight"] = shape
        spec[f"{prefix}.{idx}.bias"] = (shape[0],)

    def bn(prefix, idx, c):
        for name in ("weight", "bias", "running_mean", "running_var"):
            spec[f"{prefix}.{idx}.{name}"] = (c,)
        spec[f"{prefix}.{idx}.num_batches_tracked"] = ()

    aud = [(0, (64, 1, 3, 3)), (4, (192, 64, 3, 3)), (8, (384, 192, 3, 3)), (11, (256, 384, 3, 3)), (14, (256, 256, 3, 3)), (18, (512, 256, 5, 4))]
    for idx, shape in aud:
        conv("netcnnaud", idx, shape)
        bn("netcnnaud", idx + 1, shape[0])
    for tower in ("netfcaud", "netfclip"):
        conv(tower, 0, (512, 512))
        bn(tower, 1, 512)
        conv(tower, 3, (1024, 512))
    lip = [(0, (96, 3, 5, 7, 7)), (4, (256, 96, 1, 5, 5)), (8, (256, 256, 1, 3, 3)), (11, (256, 256, 1, 3, 3)), (14, (256, 256, 1, 3, 3)), (18, (512, 256, 1, 6, 6))]
    for idx, shape in lip:
        conv("netcnnlip", idx, shape)
        bn("netcnnlip", idx + 1, shape[0])
    return spec


def test_state_dict_has_the_official_102_keys_and_shapes():
    state = SyncNet().state_dict()
    spec = _official_spec()
    assert len(spec) == 102
    assert {k: tuple(v.shape) for k, v in state.items()} == spec


@pytest.fixture(scope="module")
def official_random():
    return random_syncnet(3)


def test_towers_give_1024_d_embeddings_for_official_inputs(official_random):
    net = official_random
    with torch.inference_mode():
        assert net.forward_aud(torch.zeros(2, 1, 13, 20)).shape == (2, 1024)
        assert net.forward_lip(torch.zeros(2, 3, 5, 224, 224)).shape == (2, 1024)


def test_official_format_round_trip_and_identification(tmp_path, monkeypatch, official_random):
    net = official_random
    path = save_syncnet(net, tmp_path / "syncnet_v2.model")
    raw = torch.load(path, weights_only=True)
    assert isinstance(raw, dict) and len(raw) == 102  # a bare state dict, like the official file
    loaded, info = load_syncnet(path)
    for k, v in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    assert not info.official and info.git_blob_id == git_blob_id(path)
    monkeypatch.setattr(model_mod, "OFFICIAL_SYNCNET_BLOB", info.git_blob_id)
    assert load_syncnet(path)[1].official


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_blob_id_is_git_hash_object(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(np.random.default_rng(0).bytes(3000))
    assert git_blob_id(p) == subprocess.run(["git", "hash-object", str(p)], capture_output=True, text=True, check=True).stdout.strip()


def test_loads_old_files_without_num_batches_tracked_and_wrapped_keys(tmp_path, official_random):
    net = official_random
    state = {f"__S__.{k}": v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "old.model")
    loaded, _ = load_syncnet(tmp_path / "old.model")
    assert torch.equal(loaded.netcnnlip[0].weight, net.netcnnlip[0].weight)


def test_bad_files_give_one_line_errors(tmp_path, official_random):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_syncnet(tmp_path / "missing.model")
    (tmp_path / "junk.model").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a PyTorch weights file"):
        load_syncnet(tmp_path / "junk.model")
    state = dict(official_random.state_dict())
    state["netfclip.3.weight"] = torch.zeros(10, 512)
    torch.save(state, tmp_path / "shape.model")
    with pytest.raises(ValueError, match=r"netfclip.3.weight has shape \(10, 512\)"):
        load_syncnet(tmp_path / "shape.model")
    del state["netfclip.3.weight"]
    torch.save(state, tmp_path / "missing_key.model")
    with pytest.raises(ValueError, match="missing"):
        load_syncnet(tmp_path / "missing_key.model")


def test_small_configuration_checkpoint_records_its_size(tmp_path):
    cfg = SyncNetConfig.small()
    net = random_syncnet(2, cfg)
    path = save_syncnet(net, tmp_path / "small.pt")
    loaded, info = load_syncnet(path)
    assert loaded.config == cfg and info.config == cfg and not info.official
    with torch.inference_mode():
        x = torch.rand(3, 3, 5, cfg.image_size, cfg.image_size) * 255
        assert torch.allclose(loaded.forward_lip(x), net.forward_lip(x))
    with pytest.raises(ValueError, match="official format"):
        save_syncnet(net, tmp_path / "x.model", official_format=True)


def test_inference_copy_matches_the_plain_network():
    net = random_syncnet(4, SyncNetConfig(width=0.25, embed_dim=64))
    fast = InferenceSyncNet(net)
    with torch.inference_mode():
        v = torch.rand(3, 3, 5, 224, 224) * 255
        a = torch.randn(4, 1, 13, 20) * 10
        ref_v, ref_a = net.forward_lip(v), net.forward_aud(a)
        assert torch.allclose(fast.forward_lip(v), ref_v, rtol=1e-4, atol=1e-4 * float(ref_v.abs().max()))
        assert torch.allclose(fast.forward_aud(a), ref_a, rtol=1e-4, atol=1e-4 * float(ref_a.abs().max()))


def test_crop_region_is_recorded_checked_and_optional(tmp_path):
    cfg = SyncNetConfig.small()
    assert cfg.crop_region == (0.2, 0.35, 0.8, 0.95) and SyncNetConfig().crop_region == (0.0, 0.0, 1.0, 1.0)
    # A checkpoint stores the region as a list; it comes back as the same (hashable) configuration.
    assert SyncNetConfig.from_dict(cfg.to_dict()) == cfg and hash(SyncNetConfig.from_dict(cfg.to_dict())) == hash(cfg)
    for bad in ((0.5, 0.0, 0.4, 1.0), (0.0, 0.0, 1.0, 1.2), (0.0, 0.0, 1.0)):
        with pytest.raises(ValueError, match="crop_region"):
            SyncNetConfig(crop_region=bad)
    # Checkpoints written before the region existed load with the whole crop.
    old = {k: v for k, v in SyncNetConfig(width=0.25, image_size=112, embed_dim=64).to_dict().items() if k != "crop_region"}
    net = random_syncnet(1, SyncNetConfig.from_dict(old))
    torch.save({"format": "avsync-syncnet", "config": old, "state_dict": net.state_dict()}, tmp_path / "old.pt")
    loaded, info = load_syncnet(tmp_path / "old.pt")
    assert info.config.crop_region == (0.0, 0.0, 1.0, 1.0) and info.config.image_size == 112
    torch.save({"format": "avsync-syncnet", "config": {**old, "crop_region": [0.9, 0, 0.1, 1]}, "state_dict": net.state_dict()}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"bad\.pt': bad SyncNet configuration \(crop_region"):
        load_syncnet(tmp_path / "bad.pt")
