import sys
from pathlib import Path

# tests run with --import-mode=importlib: make the shared stream helpers importable
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
