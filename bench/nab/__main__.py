import argparse
import json

from bench.nab.runner import main

ap = argparse.ArgumentParser(prog="python -m bench.nab", description="NAB benchmark for warden metric detectors")
ap.add_argument("data", help="NAB directory (data/, labels/combined_windows.json, profiles.json)")
ap.add_argument("out", help="results directory")
ap.add_argument("--detector", default="novelty")
ap.add_argument("--threshold", type=float, default=None, help="fixed threshold on anomaly_score (default 0.5)")
ap.add_argument("--options", default=None, help="detector options as JSON")
ap.add_argument("--files", default=None, help="comma-separated substrings of file keys to run")
a = ap.parse_args()
main(a.data, a.out, a.detector, a.threshold, json.loads(a.options) if a.options else None,
     a.files.split(",") if a.files else None)
