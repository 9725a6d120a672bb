"""Shared fixtures: repo paths, the development data folder, a fresh embedded runtime."""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")        # no model hub here: models come from packages
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"development data not present at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def embedded_cfg(tmp_path):
    from agent.config import parse
    return parse({"data_dir": str(tmp_path / "warden")})


@pytest.fixture
def counters():
    from core.counters import Counters
    return Counters()
