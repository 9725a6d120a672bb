import argparse

from bench.drift import main

ap = argparse.ArgumentParser(prog="python -m bench.drift")
ap.add_argument("--runs", type=int, default=100)
ap.add_argument("--mmd-n", type=int, default=10000)
ap.add_argument("--permutations", type=int, default=100)
ap.add_argument("--device", default="auto")
a = ap.parse_args()
main(a.runs, a.mmd_n, a.permutations, a.device)
