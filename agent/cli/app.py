"""The root click group and shared options. Exit codes: 0 ok, 1 failure/findings, 2 usage or
config error, 3 not found."""
from __future__ import annotations

import logging
import sys

import click

from core.errors import WardenError

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_NOT_FOUND = 0, 1, 2, 3


class Fraction(click.FloatRange):
    """A number in 0..1 (open ends with min_open / max_open); NaN, which every comparison lets
    through click's FloatRange, is refused too (`--alpha nan` reported no drift)."""

    def convert(self, value, param, ctx):
        v = super().convert(value, param, ctx)
        if v != v:
            self.fail(f"{value!r} is not a number in {self._describe_range()}", param, ctx)
        return v


class Context:
    def __init__(self, config_path: str | None, data_dir: str | None = None) -> None:
        self.config_path = config_path
        self.data_dir = data_dir
        self._cfg = None

    @property
    def cfg(self):
        if self._cfg is None:
            from agent.config import load
            self._cfg = load(self.config_path)
            if self.data_dir:
                self._cfg.data_dir = self.data_dir
        return self._cfg


class WardenGroup(click.Group):
    #: errors meant for users: printed as `error: ...`, exit 2 (a group may add its own)
    usage_errors: tuple[type[Exception], ...] = (WardenError,)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except self.usage_errors as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(EXIT_USAGE)


@click.group(cls=WardenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config_path", envvar="WARDEN_CONFIG", type=click.Path(dir_okay=False),
              help="Config file (default: $WARDEN_CONFIG, ./warden.yaml, or built-in defaults).")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="Use this data folder (SQLite store, action log, state) instead of the config's data_dir; "
                   "e.g. the demo's: warden --data-dir .warden/demo alerts list.")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, data_dir: str | None, verbose: int) -> None:
    """warden: AIOps and security monitoring for AI platforms."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(config_path, data_dir)


pass_ctx = click.make_pass_decorator(Context)


def current_user() -> str:
    """Who runs the command ($USER / the login name), for --by defaults."""
    import getpass
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (containers): say so
        return "unknown"


def require_sqlite_store(cfg) -> None:
    """Exit 3 naming the path when the config's store is SQLite and its file does not exist: reading
    commands create no empty store (a mistyped data_dir, nothing run yet)."""
    if cfg.store.type == "sqlite" and not cfg.sqlite_path.exists():
        click.echo(f"error: no alert store at {cfg.sqlite_path} (nothing ran with this data_dir yet; "
                   "the demo's: warden --data-dir .warden/demo ...)", err=True)
        sys.exit(EXIT_NOT_FOUND)


def open_store(ctx: Context):
    """The alert store the config names, started. A SQLite store that does not exist is not created
    by reading commands: exit 3 with where it was looked for (a mistyped data_dir, no run yet)."""
    from core.stores import create_store
    cfg = ctx.cfg
    require_sqlite_store(cfg)
    s = create_store(cfg)
    s.start()
    return s
