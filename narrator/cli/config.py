"""Defaults for ``narrate`` from a TOML file, so that a cron line stays short.

The file is ``--config FILE``, else ``narrator.toml`` in the working folder if there is one
(a missing ``narrator.toml`` is no error; a missing ``--config`` file is). Its keys sit at the
top level, one per long option without the dashes, ``-`` and ``_`` alike; tables are refused::

    voice = "JBFqnCBsd6RMkjVDRZzb"
    concurrency = 8
    max-segment-chars = 0
    subtitles = "srt,vtt"
    pronunciation-dictionary = ["dictA:v7", "dictB"]
    force = false
    out = "audio"            # paths read as on the command line: from the working folder

The values become Click's ``default_map``, so a flag on the command line wins, and so does
``ELEVENLABS_BASE_URL`` (Click ranks a variable above the default map). Every value is
checked when the file is read, with the option's own type and range; what only an option's
own check finds is blamed on the file too (:class:`ConfiguredCommand`). Any problem is one
line naming the file and the key, or the line of a syntax error, and exit 2. ``api-key`` is
refused: a config file gets shared and committed, so a key stays in ELEVENLABS_API_KEY or
``.env``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, Any

import click
from click.core import ParameterSource

from narrator.cli.display import printable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - tomllib joined the standard library in 3.11
    import tomli as tomllib

CONFIG_NAME = "narrator.toml"
#: Options that are actions or this file itself, not standing defaults.
_NOT_SETTINGS = frozenset({"config", "list_voices", "help", "version"})
#: Where the file read and its keys (parameter name -> key as written) are kept in ``ctx.meta``.
_META = "narrator.config"


class ConfigError(click.ClickException):
    """A config file that cannot be used: one line, exit 2, in narrate's own format."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"narrate: {printable(self.format_message())}", file=file, err=file is None)


def load_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    """Eager callback of ``--config``: read the file before any other option takes a default."""
    if ctx.resilient_parsing:
        return value
    path = value if value is not None else Path(CONFIG_NAME)
    if value is None and not path.is_file():
        return value
    defaults, keys = read_config(path, ctx)
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    ctx.meta[_META] = (path, keys)
    return value


def read_config(path: Path, ctx: click.Context) -> tuple[dict[str, Any], dict[str, str]]:
    """``(default_map, parameter name -> key)`` from the file at ``path``, every value checked."""
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    options = _settable(ctx.command)
    defaults: dict[str, Any] = {}
    keys: dict[str, str] = {}
    for key, raw in data.items():
        param = _option_for(path, key, raw, options)
        defaults[param.name or key] = _checked(path, key, raw, param, ctx)
        keys[param.name or key] = key
    return defaults, keys


def _settable(command: click.Command) -> dict[str, click.Option]:
    """Each option a file may set, by its long name with underscores."""
    found: dict[str, click.Option] = {}
    for param in command.params:
        if isinstance(param, click.Option) and param.name not in _NOT_SETTINGS:
            for opt in param.opts:
                if opt.startswith("--"):
                    found[opt[2:].replace("-", "_")] = param
    return found


def _option_for(
    path: Path, key: str, raw: object, options: dict[str, click.Option]
) -> click.Option:
    name = key.replace("-", "_")
    if name == "api_key":
        raise ConfigError(
            f"{path}: {key}: an API key is not read from a config file (files get shared); "
            "keep it in ELEVENLABS_API_KEY or .env"
        )
    if isinstance(raw, dict):
        raise ConfigError(f"{path}: [{key}]: tables are not read; put the settings at the top")
    if name not in options:
        raise ConfigError(f"{path}: {key}: not a narrate option")
    return options[name]


def _checked(path: Path, key: str, raw: object, param: click.Option, ctx: click.Context) -> object:
    """``raw`` if it has the option's TOML type and passes its Click type (range, choice)."""
    if param.multiple and not isinstance(raw, list):
        raw = [raw]
    expected, kinds = _toml_type(param)
    values = raw if isinstance(raw, list) and param.multiple else [raw]
    for value in values:
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            shown = f"a list of {expected.removeprefix('a ')}s" if param.multiple else expected
            raise ConfigError(f"{path}: {key}: expected {shown}, not {_toml_repr(value)}")
    try:
        param.type_cast_value(ctx, raw)
    except click.BadParameter as exc:
        raise ConfigError(f"{path}: {key}: {exc.message}") from None
    return raw


def _toml_type(param: click.Option) -> tuple[str, tuple[type, ...]]:
    """What TOML value the option takes: Click would quietly turn 2.5 into 2, "no" into False."""
    kind = param.type
    if param.is_flag or isinstance(kind, click.types.BoolParamType):
        return "true or false", (bool,)
    if isinstance(kind, click.types.IntParamType):
        return "a whole number", (int,)
    if isinstance(kind, click.types.FloatParamType):
        return "a number", (int, float)
    return "a string", (str,)


def _toml_repr(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


class ConfiguredCommand(click.Command):
    """A command whose defaults may come from a config file: a value that only the option's
    own check refuses (a voice id, a base URL) is blamed on the file and its key."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.BadParameter as exc:
            name = exc.param.name if exc.param is not None else None
            config = ctx.meta.get(_META)
            if name and config and ctx.get_parameter_source(name) is ParameterSource.DEFAULT_MAP:
                path, keys = config
                raise ConfigError(f"{path}: {keys.get(name, name)}: {exc.message}") from None
            raise
