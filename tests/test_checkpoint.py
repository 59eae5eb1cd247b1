from __future__ import annotations

from pathlib import Path

import pytest
import torch

from photorecon.checkpoint import CheckpointMeta, read_meta, save_weights
from photorecon.errors import PhotoreconError
from photorecon.models.loading import load_checkpoint, load_model
from photorecon.models.registry import create_model

TINY = {"width": 4, "downs": 2, "blocks": 1, "max_width": 8}


def tiny_checkpoint(path: Path) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model("ffc", **TINY).eval()
    save_weights(
        path, model, CheckpointMeta("ffc", model.config, step=3, metrics={"val_rmse": 0.5})
    )
    return model


def test_save_load_gives_identical_outputs(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    model = tiny_checkpoint(path)
    loaded = load_checkpoint(path)
    x, m = torch.rand(1, 3, 40, 36), torch.zeros(1, 1, 40, 36)
    m[..., 5:20, 5:20] = 1
    with torch.no_grad():
        assert torch.equal(model(x, m), loaded(x, m))
    meta = read_meta(path)
    assert meta.step == 3 and meta.metrics["val_rmse"] == 0.5 and meta.kwargs["width"] == 4
    # a run folder works too (best/model.safetensors)
    (tmp_path / "run" / "best").mkdir(parents=True)
    path.rename(tmp_path / "run" / "best" / "model.safetensors")
    from_run = load_model(str(tmp_path / "run"))
    with torch.no_grad():  # the same net (load_model runs it channels-last: rounding apart)
        assert torch.allclose(model(x, m), from_run(x, m), atol=1e-5)


def test_truncated_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    tiny_checkpoint(path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(PhotoreconError, match="m.safetensors"):
        load_checkpoint(path)


def test_foreign_and_mismatched_checkpoints(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(PhotoreconError, match="not a photorecon checkpoint"):
        load_checkpoint(foreign)
    other = tmp_path / "other.safetensors"
    model = create_model("ffc", **TINY)
    save_weights(other, model, CheckpointMeta("ffc", {**TINY, "width": 8}))
    with pytest.raises(PhotoreconError, match="do not fit model 'ffc'"):
        load_checkpoint(other)
    with pytest.raises(PhotoreconError, match="no such checkpoint"):
        load_model(str(tmp_path / "missing.safetensors"))


def test_evaluating_on_training_photos_warns(tmp_path: Path, dataset: Path, monkeypatch) -> None:
    from photorecon.data.challenge_dir import open_split
    from photorecon.evaluate import warn_if_trained_on

    weights = tmp_path / "weights"
    weights.mkdir()
    tiny_checkpoint(weights / "ffc.safetensors")
    test_photos = (dataset / "test" / "photos.txt").read_text().split()
    (weights / "ffc-train-photos.txt").write_text(f"# header\nabc123  {test_photos[0]}\n")
    monkeypatch.setenv("PHOTORECON_WEIGHTS", str(weights))
    split = open_split(dataset / "test")
    with pytest.warns(UserWarning, match=r"1 of the 2 photos .* were in ffc's training set"):
        warn_if_trained_on(split, ["ffc", "telea"])
    (weights / "ffc-train-photos.txt").write_text("# nothing shared\n")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_trained_on(split, ["ffc"])


def test_warm_start_copies_weights_and_refuses_another_shape(tmp_path: Path) -> None:
    from photorecon.train.state import warm_start

    path = tmp_path / "m.safetensors"
    source = tiny_checkpoint(path)
    torch.manual_seed(1)
    fresh = create_model("ffc", **TINY)
    assert not torch.equal(
        fresh.state_dict()["stem.0.weight"], source.state_dict()["stem.0.weight"]
    )
    warm_start(fresh, str(path), "ffc")
    for key, value in source.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    wider = create_model("ffc", **{**TINY, "width": 8})
    with pytest.raises(PhotoreconError, match=r"init .*m\.safetensors.*width: 4 there, 8 here"):
        warm_start(wider, str(path), "ffc")
    with pytest.raises(PhotoreconError, match=r"not the 'bilstm' network.*FFCInpainter there"):
        warm_start(create_model("bilstm"), str(path), "bilstm")


def test_a_damage_detector_warm_starts_from_its_checkpoint(tmp_path: Path) -> None:
    from photorecon.train.state import warm_start

    torch.manual_seed(0)
    source = create_model("damage", widths=[4, 8, 8, 8]).eval()
    path = tmp_path / "d.safetensors"
    save_weights(path, source, CheckpointMeta("damage", source.config))
    fresh = create_model("damage", widths=[4, 8, 8, 8])
    warm_start(fresh, str(path), "damage")
    for key, value in source.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value), key
    with pytest.raises(PhotoreconError, match=r"widths: \[4, 8, 8, 8\] there"):
        warm_start(create_model("damage", widths=[4, 8, 8, 16]), str(path), "damage")


def test_unknown_constructor_arguments_in_a_checkpoint_are_one_line(tmp_path) -> None:
    from photorecon.checkpoint import CheckpointMeta, save_weights
    from photorecon.errors import PhotoreconError
    from photorecon.models.registry import create_model

    model = create_model("ffc", width=4, downs=2, blocks=1, max_width=8)
    path = tmp_path / "odd.safetensors"
    save_weights(path, model, CheckpointMeta("ffc", {**model.config, "wings": 2}))
    with pytest.raises(
        PhotoreconError, match=r"odd.safetensors: its metadata does not build model 'ffc'.*wings"
    ):
        load_checkpoint(path)


def test_a_checkpoint_naming_a_classical_fill_is_one_line(tmp_path) -> None:
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from photorecon.models.files import shipped_weights

    with safe_open(str(shipped_weights("damage")), "pt") as f:
        meta = json.loads(f.metadata()["photorecon"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
    meta.update(model="telea", kwargs={})
    crafted = tmp_path / "crafted.safetensors"
    save_file(tensors, str(crafted), metadata={"photorecon": json.dumps(meta)})
    with pytest.raises(PhotoreconError, match="'telea' is a classical fill, with no weights"):
        load_checkpoint(crafted)


def test_average_is_the_weighted_mean_of_one_models_checkpoints(tmp_path: Path, capsys) -> None:
    from photorecon.checkpoint import average_weights, read_weights
    from photorecon.cli import main

    nets = []
    for seed, name in ((0, "a"), (1, "b")):
        torch.manual_seed(seed)
        net = create_model("damage", widths=(4, 4, 8, 8)).train()
        net(torch.rand(2, 3, 64, 64))  # BatchNorm's statistics and counters move
        if seed:
            net(torch.rand(2, 3, 64, 64))
        save_weights(
            tmp_path / f"{name}.safetensors",
            net.eval(),
            CheckpointMeta("damage", net.config, step=seed + 5),
        )
        nets.append(net.state_dict())
    a, b = (str(tmp_path / f"{n}.safetensors") for n in "ab")
    state, meta = average_weights([a, b], [1, 3])
    for key, value in state.items():
        if value.is_floating_point():
            assert torch.allclose(value, 0.25 * nets[0][key] + 0.75 * nets[1][key], atol=1e-6)
        else:  # the counters are the first checkpoint's
            assert torch.equal(value, nets[0][key])
    assert [r["share"] for r in meta.config["soup"]] == [0.25, 0.75]
    assert meta.model == "damage" and meta.kwargs == read_meta(a).kwargs

    out = tmp_path / "soup.safetensors"
    assert main(["average", a, b, "-o", str(out)]) == 0
    half = read_weights(out)
    assert torch.allclose(
        half["head.weight"], (nets[0]["head.weight"] + nets[1]["head.weight"]) / 2
    )
    assert read_meta(out).config["soup"][1]["step"] == 6
    load_checkpoint(out)  # a checkpoint like any other

    torch.manual_seed(2)
    other = create_model("damage", widths=(4, 4, 8, 12))
    save_weights(tmp_path / "c.safetensors", other, CheckpointMeta("damage", other.config))
    capsys.readouterr()
    refused = tmp_path / "refused.safetensors"
    for argv in (
        [a, str(tmp_path / "c.safetensors")],
        [a, b, "--shares", "1,x"],
        [a, b, "--shares", "1,-1"],
        [a],
    ):
        assert main(["average", *argv, "-o", str(refused)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "error" in err
    assert not refused.exists()
