"""Themes as files: every ``*.toml`` in the themes folder is one Textual theme.

A theme file holds Textual's theme fields (``name``, ``dark``, ``primary``, ``background``
…) and an optional ``[variables]`` table. A file that cannot be read, or whose colours do
not parse, is reported by name and skipped; the control room then keeps its default theme.

:func:`resolve_colour` turns a theme variable into the plain colour a Rich style takes, for
the screens that colour text themselves (the Report and Curves screens).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from textual.color import Color, ColorParseError
from textual.theme import Theme

COLOUR_FIELDS = ("primary", "secondary", "warning", "error", "success", "accent",
                 "foreground", "background", "surface", "panel", "boost")


class ThemeFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    primary: str
    secondary: str | None = None
    warning: str | None = None
    error: str | None = None
    success: str | None = None
    accent: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    boost: str | None = None
    dark: bool = True
    luminosity_spread: float = 0.15
    text_alpha: float = 0.95
    variables: dict[str, str] = Field(default_factory=dict)


@dataclass(frozen=True)
class ThemeProblem:
    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path.name}: {self.message}"


def load_theme(path: Path) -> Theme:
    """One theme file as a Textual theme; ``ValueError`` says what is wrong with it."""
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not valid TOML: {exc}") from exc
    try:
        spec = ThemeFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ValueError(f"{'.'.join(map(str, err['loc'])) or 'theme'}: {err['msg']}") from exc
    for name in COLOUR_FIELDS:
        value = getattr(spec, name)
        if value is not None:
            try:
                Color.parse(value)
            except ColorParseError as exc:
                raise ValueError(f"{name}: {value!r} is not a colour") from exc
    return Theme(**spec.model_dump())


def load_themes(folder: Path) -> tuple[list[Theme], list[ThemeProblem]]:
    """Every theme of ``folder`` (by file name), and the files that could not be used."""
    themes: list[Theme] = []
    problems: list[ThemeProblem] = []
    if not folder.is_dir():
        return themes, problems
    for path in sorted(folder.glob("*.toml")):
        try:
            themes.append(load_theme(path))
        except ValueError as exc:
            problems.append(ThemeProblem(path, str(exc)))
    return themes, problems


def resolve_colour(variables: dict[str, str], name: str) -> str:
    """Theme variable ``name`` as an opaque ``#rrggbb`` (alpha laid over the background),
    the form Rich styles take; the foreground when the variable is not a plain colour."""
    background = Color.parse(variables.get("background", "#000000"))
    try:
        colour = Color.parse(variables[name])
    except (KeyError, ColorParseError):
        colour = Color.parse(variables.get("foreground", "#ffffff"))
    return (background + colour).hex6
