"""Metric anomaly detectors: one concept per module, all on the API of detectors.base.

Series key = (event.entity, event.name) for events of kind "metric" with a numeric value.
Every detector here is a ``MetricDetector`` (detectors.metrics.common): ``run(events)`` gives the
stream scores (score with the state before each point, learn only unflagged points once warm),
``process`` builds findings with evidence from it, ``score_many`` is pure, snapshots are
versioned and checksummed (core.snapshot, no pickle), per entity or whole.

| type | module | what |
|---|---|---|
| baseline | baseline | robust z against a Huber EWMA centre/scale (default metric detector) |
| seasonal | seasonal | the same per phase of a season (hour of day by default) |
| changepoint | changepoint | two-sided CUSUM on clipped robust z: level shifts |
| novelty | novelty | distance to the nearest recent value, record suppression, flag-rate calibration |
| discord | discord | distance of the recent shape to the nearest shape the series has shown (with novelty in an ensemble: best on NAB) |
| pyod_window | windows | a PyOD model (knn, lof, iforest, ecod, copod, hbos) over sliding windows |
| forecast | forecast | torch MLP forecaster (GPU when present); artifact from train.main |
| ensemble | ensemble | calibrated combination of the above |
| gpu_memory_leak | trend | Mann-Kendall + Theil-Sen trend of gpu.memory.used |
| gpu_stall | gpu | utilisation collapse of a busy GPU |
| gpu_health | gpu | thermal throttling, XID error bursts |
| straggler | straggler | training.step.duration vs the peer median of the same job |
| slo_burn, error_burst | slo | multi-window multi-burn-rate SLO alerts (latency, errors) |
| gpu_spend | spend | projected / actual GPU spend against a daily budget |

Shared: ``common`` (series tables, ``MetricDetector`` and ``SeriesTableDetector``, snapshot helpers),
``config`` (the options every detector has: ``MetricConfig``, ``ScaleFloorConfig``,
``CalibrationConfig``), ``keyed`` (``KeyedStateDetector``, base of the AI-platform detectors).

Training: ``detectors.metrics.train.main(data, out, device="auto", epochs=20, ...)``.
"""
