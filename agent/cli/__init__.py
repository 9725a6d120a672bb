"""The `warden` command line. Each module of this package adds its commands to `cli`
(no hand-written list): `@cli.command()` / `@cli.group()` from agent.cli.app."""
from __future__ import annotations

import importlib
import pkgutil
import sys

from agent.cli.app import cli


def _load_commands() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if mod.name not in ("app", "output", "render") and not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


def main(argv: list[str] | None = None) -> int:
    _load_commands()
    try:
        return cli.main(args=argv, prog_name="warden", standalone_mode=True) or 0
    except SystemExit as e:
        return int(e.code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
