"""`warden alerts explain ID --png FILE`: the metric chart as a PNG; a clear error for alerts without one."""
from __future__ import annotations

from core.event import Alert
from core.stores.sqlite import SqliteStore
from tests.unit.agent.lifecycle.cli_fixture import invoke


def _alert(i: int, evidence: dict) -> Alert:
    return Alert(id=f"{i:02d}" + "b" * 30, rule="metric-anomaly", title="gpu.memory.used up", severity="high",
                 entity="gpu-node-3", group_key="g", status="firing", first_seen=1000.0, last_seen=1100.0,
                 detector="baseline/default", evidence=evidence)


def test_explain_png_draws_the_chart_and_refuses_alerts_without_one(tmp_path):
    pts = [[1000.0 + 60 * i, 10.0 + (i % 3) + (20.0 if i > 25 else 0.0), 11.0, 0.8, i > 25] for i in range(30)]
    store = SqliteStore(tmp_path / "w" / "warden.db")
    store.upsert_alerts([_alert(1, {"metric": "gpu.memory.used", "chart": {"metric": "gpu.memory.used",
                                                                         "points": pts, "threshold_k": 7.0}}),
                         _alert(2, {"rule": {"title": "Console Login Failure"}})])
    store.close()
    conf = tmp_path / "warden.yaml"
    conf.write_text(f"data_dir: {tmp_path / 'w'}\n")
    png = tmp_path / "chart.png"
    r = invoke(str(conf), "alerts", "explain", "01bb", "--no-events", "--png", str(png))
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "30 points, 4 crossings" in r.output
    r = invoke(str(conf), "alerts", "explain", "02bb", "--no-events", "--png", str(tmp_path / "no.png"))
    assert r.exit_code == 3 and "no metric chart" in r.output
    r = invoke(str(conf), "alerts", "explain", "01bb", "--no-events", "--png", str(tmp_path / "no-such" / "c.png"))
    assert r.exit_code == 2 and "cannot write --png" in r.output            # it was a FileNotFoundError traceback
