"""The user's own code, named in a config as ``"package.module:function"``.

Resolved with the standard library's :func:`pkgutil.resolve_name`. A module is looked up
on ``sys.path`` (``PYTHONPATH``) first, then in the extra folders a command adds, the
folder of the study or config file that names it (:func:`add_search_dir`); worker
processes inherit both through ``PYTHONPATH``.

A factory path is code: whoever can write a study's storage or a config file chooses what
runs. Treat a storage as trusted as the code its studies name.
"""

from __future__ import annotations

import os
import pkgutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from tricks.config import ConfigError, TrickConfig

__all__ = ["add_search_dir", "announce", "factory_paths", "resolve_callable"]


def add_search_dir(folder: str | Path) -> None:
    """Let factory modules next to a study or config file import, here and in child processes.

    Appended after ``sys.path`` and ``PYTHONPATH``, so an installed package of the same
    name wins.
    """
    path = str(Path(folder).resolve())
    if path not in sys.path:
        sys.path.append(path)
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if path not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([*parts, path])


def resolve_callable(path: str, key: str) -> Callable[..., Any]:
    """The callable that ``path`` (``"package.module:function"``) names.

    Raises:
        ConfigError: The module does not import, the attribute does not exist or is not
            callable; the message starts with ``key``.
    """
    try:
        found = pkgutil.resolve_name(path)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"{key}: cannot import {exc.name!r} for {path!r} (not on PYTHONPATH, nor next to "
            "the study or config file)"
        ) from None
    except AttributeError:
        raise ConfigError(f"{key}: {path!r} names nothing (no such attribute)") from None
    except (ValueError, ImportError) as exc:
        raise ConfigError(f"{key}: cannot import {path!r}: {exc}") from None
    except Exception as exc:  # the module itself raised while importing
        raise ConfigError(f"{key}: importing {path!r} raised {type(exc).__name__}: {exc}") from None
    if not callable(found):
        raise ConfigError(f"{key}: {path!r} is a {type(found).__name__}, not a callable")
    return found  # type: ignore[no-any-return]


def factory_paths(configs: Iterable[TrickConfig]) -> list[str]:
    """The user code the configs name, as ``key = path`` lines (each once, in order)."""
    found: dict[str, None] = {}
    for config in configs:
        for key, path in (
            ("model.factory", config.model.factory),
            ("data.factory", config.data.factory),
        ):
            if path:
                found[f"{key} = {path}"] = None
    return list(found)


def announce(configs: Iterable[TrickConfig], stream: TextIO | None = None) -> None:
    """Print the user code a stored study will import, before importing any of it."""
    paths = factory_paths(configs)
    if paths:
        print(
            f"importing user code named in the study: {'; '.join(paths)}",
            file=stream or sys.stderr,
            flush=True,
        )
