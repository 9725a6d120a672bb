"""NAB benchmark harness and scorer: ``bench.nab.main(data, out, detector, threshold=None)``.

- ``run(data_dir, out_dir, detector, threshold=None, options=None, files=None) -> dict``
- ``main(...)``: the same, printing one table per profile (best threshold swept, and fixed).
- ``python -m bench.nab DATA OUT [--detector TYPE] [--threshold T]``
"""
from bench.nab.runner import main, run, table  # noqa: F401
