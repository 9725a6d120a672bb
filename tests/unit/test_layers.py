"""The layering of issue 13 (ARCHITECTURE.md), kept by import-linter's contracts in pyproject.toml.

Each contract is run by lint-imports on this checkout; a broken one fails its own test, named by the
contract. The ratchet (imports that break a contract today, listed with `# issue 13: to move`) may
only shrink: lint-imports fails on a listed import that is gone, and `scripts/import-ratchet --check`
on one that no longer needs listing.
"""
from __future__ import annotations

import pkgutil
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = REPO / "pyproject.toml"
CONFIG = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
CONTRACTS = {c["id"]: c for c in CONFIG["contracts"]}
MARK = "# issue 13: to move"
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def lint_imports(root: Path, contract_id: str) -> subprocess.CompletedProcess:
    """lint-imports with this venv's interpreter on the packages under `root`, one contract."""
    return subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache", "--no-logo", "--contract", contract_id,
         str(root / "pyproject.toml")],
        cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=300,
    )


@pytest.mark.parametrize("contract_id", sorted(CONTRACTS))
def test_contract_is_kept(contract_id):
    run = lint_imports(REPO, contract_id)
    assert run.returncode == 0, (
        f"import contract broken: {CONTRACTS[contract_id]['name']!r}\n{run.stdout}{run.stderr}")


def _copy_sources(dest: Path) -> None:
    """The packages' Python files and pyproject.toml, nothing else (no data, no caches)."""
    for package in CONFIG["root_packages"]:
        shutil.copytree(REPO / package, dest / package,
                        ignore=lambda d, names: [n for n in names if n == "__pycache__"
                                                 or (Path(d, n).is_file() and not n.endswith(".py"))])
    shutil.copy(PYPROJECT, dest / "pyproject.toml")


# one new import that breaks each contract: (contract, module file, the import added to it)
NEW_IMPORTS = [
    ("layers", "agent/event.py", "agent.cli"),
    ("layers", "detectors/base.py", "agent.stages.base"),
    ("families", "detectors/base.py", "responders.base"),
    ("plugins-no-engine", "collectors/formats.py", "agent.lifecycle.silences"),
    ("engine-no-plugins", "agent/lifecycle/inhibit.py", "detectors.base"),
    ("engine-order", "agent/lifecycle/silences.py", "rules.policy"),
    ("bench", "detectors/base.py", "bench"),
    ("acyclic", "agent/component.py", "agent.registry"),  # agent.registry imports agent.component
]


@pytest.mark.parametrize(("contract_id", "path", "imported"), NEW_IMPORTS)
def test_a_new_import_against_a_contract_fails_with_its_name(tmp_path, contract_id, path, imported):
    _copy_sources(tmp_path)
    assert lint_imports(tmp_path, contract_id).returncode == 0  # the copy keeps the contract
    with open(tmp_path / path, "a") as f:
        f.write(f"\nimport {imported}  # added by tests/unit/test_layers.py\n")
    run = lint_imports(tmp_path, contract_id)
    name = CONTRACTS[contract_id]["name"]
    assert run.returncode != 0
    assert (name + "BROKEN").replace(" ", "") in "".join(run.stdout.split())  # lines wrap at 80
    importer = path.removesuffix(".py").replace("/", ".")
    assert f"{importer} -> " in run.stdout or contract_id == "acyclic"


def _layer_modules() -> set[str]:
    names = set()
    for layer in CONTRACTS["layers"]["layers"]:
        names |= {m.strip().strip("()") for m in re.split(r"[|:]", layer)}
    return names


def test_every_package_and_agent_module_has_a_layer():
    """A module in no layer would escape the rule: each child of agent/ and each plug-in package is
    placed (bench has its own contract)."""
    layered = _layer_modules()
    children = {f"agent.{m.name}" for m in pkgutil.iter_modules([str(REPO / "agent")])}
    roots = set(CONFIG["root_packages"]) - {"agent", "bench"}
    assert sorted((children | roots) - layered) == []


def test_every_ignored_import_is_marked_to_move():
    """The ignore lists hold the ratchet and nothing else: one import a line, marked."""
    blocks = re.findall(r"^ignore_imports = \[\n(.*?)^\]", PYPROJECT.read_text(), re.M | re.S)
    assert len(blocks) == len(CONTRACTS)
    entry = re.compile(rf'^    "[\w.]+ -> [\w.]+",  {re.escape(MARK)}$')
    bad = [line for block in blocks for line in block.splitlines() if not entry.match(line)]
    assert bad == []


def test_ratchet_lists_are_exactly_todays_breaking_imports():
    """No listed import that no contract needs any more: the lists only shrink."""
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "import-ratchet"), "--check"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr


def test_architecture_md_names_only_paths_that_exist():
    """ARCHITECTURE.md matches the tree: every file or folder it names in backticks exists."""
    text = (REPO / "ARCHITECTURE.md").read_text()
    named = {p.split()[0] for p in re.findall(r"`([\w./-]+/[\w./-]*|[\w/-]+\.py)[^`]*`", text)}
    missing = sorted(p for p in named if not (REPO / p).exists() and not p.startswith(".venv/"))
    assert named and missing == []
