"""Component base: every collector, detector, responder and notifier is one of these.

A component class declares `kind` (its family), `type` (the lowercase name it registers under)
and `Config`, a dataclass of defaults whose optional `validate()` raises ValueError with a reason.
Instances are named `type/name`. `start()` and `close()` are safe to call twice.
"""
from __future__ import annotations

import dataclasses
import math
import os
import typing
from typing import Annotated, Any, ClassVar

from core.errors import ConfigError

#: the type of a component option naming a file or folder (`model_path: FilePath = ""`, `rules:
#: list[FilePath]`): built with a `base_dir` (the config file's folder), a relative value is read
#: from there, `~` from the home folder; "" (the option's default) and "-" (stdin) stay as written
FilePath = Annotated[str, "file path"]


@dataclasses.dataclass
class NoConfig:
    pass


class Component:
    kind: ClassVar[str] = ""
    type: ClassVar[str] = ""
    Config: ClassVar[type] = NoConfig

    def __init__(self, name: str = "default", config: Any = None, **kwargs: Any) -> None:
        if config is None:
            config = build_config(type(self), kwargs, where=f"{self.type}/{name}")
        elif kwargs:
            raise TypeError("pass either config or keyword options, not both")
        self.config = config
        for f in dataclasses.fields(config):  # river habit: options readable as same-named attributes
            if f.name not in ("name", "kind", "type", "config"):
                setattr(self, f.name, getattr(config, f.name))
        self.name = name if "/" in name else f"{self.type}/{name}"
        self._started = False
        self._closed = False

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._closed = False
        self.on_start()

    def close(self) -> None:
        if not self._started or self._closed:
            self._closed = True
            return
        self._closed = True
        self._started = False
        self.on_close()

    def on_start(self) -> None:
        """Override: acquire resources."""

    def on_close(self) -> None:
        """Override: release resources."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def _coerce(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        errs = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, path)
            except ConfigError as e:
                errs.append(str(e))
        raise ConfigError(errs[0] if errs else f"{path}: invalid value {value!r}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:           # an integer of 400 digits
                number = math.inf
            if not math.isfinite(number):   # YAML's .inf / .nan: a never-firing interval, a NaN threshold
                raise ConfigError(f"{path}: expected a finite number, got {str(value)[:40]}")
            return number
        leaf = path.rsplit(".", 1)[-1]
        if isinstance(value, str) and (leaf.endswith("_s") or leaf.endswith("ttl")):
            from core.durations import parse_duration
            return parse_duration(value, path)      # a duration option: seconds, or 90s / 1h30m / 2d
        raise ConfigError(f"{path}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{path}: expected a string, got {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        out = [_coerce(v, inner, f"{path}[{i}]") for i, v in enumerate(value)]
        return out if origin is list else tuple(out)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        return dict(value)
    return value


def _is_path(tp: Any) -> bool:
    """A FilePath, or a union or list holding one."""
    if tp == FilePath:
        return True
    return typing.get_origin(tp) is not Annotated and any(_is_path(a) for a in typing.get_args(tp))


def resolve_path(value: Any, base_dir: str | os.PathLike) -> Any:
    """A path option's value read from `base_dir` (a list: each item): `~` is the home folder,
    absolute paths, "" and "-" (stdin) stay as written, anything not a string is left for validation."""
    if isinstance(value, list):
        return [resolve_path(v, base_dir) for v in value]
    if not isinstance(value, str) or value in ("", "-"):
        return value
    value = os.path.expanduser(value)
    return value if os.path.isabs(value) else os.path.join(base_dir, value)


def path_options(cls: type) -> list[str]:
    """The options of `cls.Config` that name files or folders (typed FilePath)."""
    hints = typing.get_type_hints(cls.Config, include_extras=True)
    return [f.name for f in dataclasses.fields(cls.Config) if _is_path(hints.get(f.name))]


def build_config(cls: type, raw: dict[str, Any] | None, where: str = "", base_dir: str | None = None) -> Any:
    """Build `cls.Config` from a mapping: unknown keys and wrong types are errors naming the path.
    With `base_dir` (the config file's folder), relative FilePath options are read from there."""
    cfg_cls = cls.Config
    raw = dict(raw or {})
    hints = typing.get_type_hints(cfg_cls)
    fields = {f.name: f for f in dataclasses.fields(cfg_cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(fields)) or 'none'})")
    kwargs = {k: _coerce(v, hints.get(k, Any), f"{where}.{k}") for k, v in raw.items()}
    if base_dir is not None:
        for k in set(path_options(cls)) & set(kwargs):
            kwargs[k] = resolve_path(kwargs[k], base_dir)
    try:
        cfg = cfg_cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{where}: {e}") from None
    validate = getattr(cfg, "validate", None)
    if validate is not None:
        try:
            validate()
        except ValueError as e:     # a reason that names its own path keeps it ("http.tokens.a: ...")
            msg = str(e)
            raise ConfigError(msg if where and msg.startswith(f"{where}.") else f"{where}: {msg}") from None
    return cfg
