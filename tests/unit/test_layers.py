"""The layering of issue 13 (ARCHITECTURE.md), kept by import-linter's contracts in pyproject.toml.

Each contract is run by lint-imports on this checkout; a broken one fails its own test, named by the
contract. No contract ignores any import: the ratchet of issue 13 (imports listed with
`# issue 13: to move`) is empty, and `scripts/import-ratchet --check` keeps it so.
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
    ("layers", "core/event.py", "agent.cli"),
    ("layers", "detectors/base.py", "agent.stages.base"),
    ("families", "detectors/base.py", "responders.base"),
    ("plugins-no-engine", "collectors/formats.py", "policy.silences"),
    ("engine-no-plugins", "policy/inhibit.py", "detectors.base"),
    ("layers", "detectors/base.py", "bench"),
    ("layers", "policy/silences.py", "agent.stages.act.grouping"),
    ("acyclic", "core/component.py", "core.registry"),  # core.registry imports core.component
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


def _modules(package: str) -> list[str]:
    """Every module and sub-package under a root package, found on disk (nothing imported)."""
    out = [package]
    for m in pkgutil.iter_modules([str(REPO / package.replace(".", "/"))], prefix=package + "."):
        if not m.name.rsplit(".", 1)[-1].startswith("__"):
            out += _modules(m.name) if m.ispkg else [m.name]
    return out


def test_every_module_of_every_package_has_a_layer():
    """A module in no layer would escape the rule: each module is in a layer or under one
    (`core` and `agent` are folders of several layers; the other packages are one each)."""
    layered = _layer_modules()
    def placed(name: str) -> bool:
        parts = name.split(".")
        return any(".".join(parts[:i]) in layered for i in range(1, len(parts) + 1))
    unplaced = [m for p in CONFIG["root_packages"] for m in _modules(p)
                if not placed(m) and m not in ("core", "agent")]
    assert unplaced == []


def test_no_contract_ignores_an_import():
    """The ratchet of issue 13 is empty: no contract lists an import it lets through."""
    assert [c["id"] for c in CONFIG["contracts"] if c.get("ignore_imports")] == []
    assert MARK not in PYPROJECT.read_text()


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
