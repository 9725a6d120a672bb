"""detectors.metrics.train: the offline trainer writes a versioned, checksummed artifact that the
forecast detector loads; tampering or a version mismatch is refused."""
import numpy as np
import pytest

from core import registry
from core.snapshot import SnapshotError, pack
from detectors.metrics import forecast_net, train
from metric_streams import series_events


def write_csvs(root, n=3, length=400):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for k in range(n):
        v = 10 * (k + 1) + np.sin(np.arange(length) / 7) + 0.05 * rng.standard_normal(length)
        lines = ["timestamp,value"] + [f"2024-01-01 00:{i // 60 % 60:02d}:{i % 60:02d},{x:.5f}" for i, x in enumerate(v)]
        (root / f"s{k}.csv").write_text("\n".join(lines) + "\n")


def test_train_main_writes_a_loadable_artifact(tmp_path, capsys):
    write_csvs(tmp_path / "data")
    res = train.main(tmp_path / "data", tmp_path / "models/", device="auto", epochs=2, window=8, hidden=8,
                     progress=False)
    assert res["device"] == "cpu" or res["device"] == "cuda"
    assert res["series"] == 3 and res["windows"] == 3 * (400 - 8) and len(res["losses"]) == 2
    assert res["path"].endswith(train.DEFAULT_NAME) and "trained metric forecaster" in capsys.readouterr().out
    net, arch, meta = forecast_net.load_artifact(res["path"])
    assert arch["window"] == 8 and meta["epochs"] == 2
    d = registry.create("detector", "forecast/t", {"model_path": res["path"], "warmup": 5})
    assert d.net is not None and d.W == 8
    v = 10 + np.sin(np.arange(300) / 7)
    v[250] = 25.0
    r = d.run(series_events("n", "m", v))
    assert r.flags[250] and r.scores[250] == r.scores.max()


def test_artifact_checksum_and_version_are_verified(tmp_path):
    write_csvs(tmp_path / "data", n=1, length=100)
    res = train.main(tmp_path / "data", tmp_path / "m.wmodel", device="cpu", epochs=1, window=4, hidden=4,
                     progress=False)
    blob = bytearray(open(res["path"], "rb").read())
    blob[-5] ^= 0x01
    with pytest.raises(SnapshotError, match="checksum"):
        forecast_net.load_artifact(bytes(blob))
    with pytest.raises(SnapshotError, match="version"):
        forecast_net.load_artifact(pack(forecast_net.ARTIFACT_KIND, 99, {}))
    with pytest.raises(SnapshotError):
        forecast_net.load_artifact(pack("detector.baseline", 1, {}))


def test_device_selection():
    import torch
    assert forecast_net.pick_device("cpu") == "cpu"
    assert forecast_net.pick_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError):
            forecast_net.pick_device("cuda")
