"""The study files shipped with tricksearch, found by name from any folder.

They live in the repository's top-level ``studies/`` and are installed as package data
under ``search/studies/``, so ``tricksearch run quickstart`` and ``tricksearch init`` work
after a plain ``pip install``.
"""

from __future__ import annotations

from pathlib import Path

from search.errors import UsageError

__all__ = ["DEFAULT_TEMPLATE", "shipped_names", "shipped_study", "studies_dir", "study_path"]

#: What ``tricksearch init`` writes without ``--from``: the template for the user's images.
DEFAULT_TEMPLATE = "image_folder"


def studies_dir() -> Path:
    """The folder of the shipped study files: installed package data, else the source tree."""
    here = Path(__file__).resolve().parent
    for folder in (here / "studies", here.parent / "studies"):
        if any(folder.glob("*.toml")):
            return folder
    raise UsageError(f"no shipped study files next to {here}: a broken installation")


def shipped_names() -> list[str]:
    """The shipped studies' names (their file names without ``.toml``)."""
    return sorted(p.stem for p in studies_dir().glob("*.toml"))


def shipped_study(name: str) -> Path:
    """The file of shipped study ``name``.

    Raises:
        UsageError: No shipped study of that name; the message lists them.
    """
    path = studies_dir() / f"{name}.toml"
    if not path.is_file():
        raise UsageError(f"no shipped study named {name!r}; shipped: {', '.join(shipped_names())}")
    return path


def study_path(arg: str) -> Path:
    """A study file argument: an existing path, else a shipped study's name (``quickstart``).

    Anything else is returned as given, so reading it reports the missing file.
    """
    path = Path(arg)
    if path.exists() or path.suffix or "/" in arg:
        return path
    if arg in shipped_names():
        return shipped_study(arg)
    return path
