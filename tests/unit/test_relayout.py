"""scripts/relayout (issue 13's folder re-layout) on a small git repository laid out the old way:
files at old places move, old names are rewritten everywhere, and a second run changes nothing."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "relayout"

OLD_TREE = {
    "agent/__init__.py": "",
    "agent/codec.py": "from agent.event import Event\n",
    "agent/event.py": "class Event: ...\n",
    "agent/bus/__init__.py": "from agent.bus.base import Bus\n",
    "agent/bus/base.py": "class Bus: ...\n",
    # a file a branch added later under a moved package
    "agent/bus/newthing.py": "import agent.bus.base\nX = agent.bus.base.Bus\n",
    "agent/http/__init__.py": "",
    "agent/http/server.py": "from agent.http.types import Request, Response\nclass HttpServer: ...\n",
    "agent/http/types.py": "class Request: ...\nclass Response: ...\n",
    "agent/pipeline.py": (
        "from agent import codec, config\n"
        "from agent.bus import Bus\n"
        "from agent.http.server import HttpServer, Request\n"
        "from rules.policy import PolicySet, lookup\n"
        "from agent.lifecycle import silences as sil\n"
        "def f():\n"
        "    from agent.bus import (Bus,\n"
        "                           Bus as B2)\n"
        "    return 'agent.stores.sqlite.SqliteStore', 'agent.event_bounds_extra', 'x.agent.codec'\n"),
    "agent/config.py": "",
    "rules/__init__.py": "",
    "rules/policy.py": "from agent.durations import parse_duration\nclass PolicySet: ...\n",
    "agent/lifecycle/__init__.py": "",
    "agent/lifecycle/silences.py": "",
    "agent/lifecycle/grouping.py": "DEFAULT_NOTIFY = {}\n",
    "tests/unit/agent/__init__.py": "",
    "tests/unit/agent/test_codec.py": "from agent import codec\n",
    "README.md": "The bus (`agent/bus/kafka.py`, `agent/bus/`), the codec (agent/codec.py), rules/policies/ stay.\n",
    "pyproject.toml": 'layers = ["agent.cli", "agent.bus : agent.stores"]\n',
}

EXPECTED = {
    "core/codec.py": "from core.event import Event\n",
    "core/bus/__init__.py": "from core.bus.base import Bus\n",
    "core/bus/newthing.py": "import core.bus.base\nX = core.bus.base.Bus\n",
    "core/http.py": "class Request: ...\nclass Response: ...\n",
    "agent/http/server.py": "from core.http import Request, Response\nclass HttpServer: ...\n",
    "agent/pipeline.py": (
        "from core import codec\n"
        "from agent import config\n"
        "from core.bus import Bus\n"
        "from agent.http.server import HttpServer\n"
        "from core.http import Request\n"
        "from policy.policies import PolicySet\n"
        "from core.lookup import lookup\n"
        "from policy import silences as sil\n"
        "def f():\n"
        "    from core.bus import (Bus,\n"
        "                           Bus as B2)\n"
        "    return 'core.stores.sqlite.SqliteStore', 'agent.event_bounds_extra', 'x.agent.codec'\n"),
    "policy/policies.py": "from core.durations import parse_duration\nclass PolicySet: ...\n",
    "policy/silences.py": "",
    "agent/lifecycle/grouping.py": "DEFAULT_NOTIFY = {}\n",        # stays: the act stage's
    "tests/unit/core/test_codec.py": "from core import codec\n",
    "README.md": "The bus (`core/bus/kafka.py`, `core/bus/`), the codec (core/codec.py), rules/policies/ stay.\n",
    "pyproject.toml": 'layers = ["agent.cli", "core.bus : core.stores"]\n',
}


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def _relayout(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--root", str(root)], capture_output=True, text=True,
                          check=True, timeout=60)


def _snapshot(root: Path) -> dict[str, str]:
    return {p: (root / p).read_text() for p in _git(root, "ls-files").split()}


def test_relayout_moves_rewrites_and_is_idempotent(tmp_path):
    for path, text in OLD_TREE.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")

    _relayout(tmp_path)
    tree = _snapshot(tmp_path)
    for path, text in EXPECTED.items():
        assert tree.get(path) == text, path
    for old in ("agent/codec.py", "agent/bus/base.py", "agent/http/types.py", "rules/policy.py",
                "tests/unit/agent/test_codec.py", "agent/lifecycle/silences.py"):
        assert old not in tree and not (tmp_path / old).exists(), old
    assert not (tmp_path / "agent" / "bus").exists()                     # emptied folders go
    assert "core/__init__.py" in tree and "policy/__init__.py" in tree   # new packages
    assert "tests/unit/core/__init__.py" in tree

    second = _relayout(tmp_path)
    assert _snapshot(tmp_path) == tree
    assert "0 moved, 0 rewritten" in second.stderr
