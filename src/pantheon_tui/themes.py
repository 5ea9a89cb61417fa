"""Themes as files: every ``*.toml`` in a themes folder is one Textual theme.

The room's own themes (``pantheon-night``, ``pantheon-day``) ship inside the package
(:data:`BUILTIN_THEMES`), so the room has them wherever it is installed; a themes folder
(``themes/`` of the project, or ``--themes``) adds more, and a theme there with a shipped
theme's name replaces it.

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

BUILTIN_THEMES = Path(__file__).parent / "theme_files"
"""The themes the package ships (package data)."""

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


def load_themes(*folders: Path) -> tuple[list[Theme], list[ThemeProblem]]:
    """Every theme of ``folders`` (each by file name; a missing folder has none), and the
    files that could not be used. A theme named again in a later folder replaces the
    earlier one."""
    themes: dict[str, Theme] = {}
    problems: list[ThemeProblem] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = load_theme(path)
            except ValueError as exc:
                problems.append(ThemeProblem(path, str(exc)))
                continue
            themes.pop(theme.name, None)  # the replacement takes the later place
            themes[theme.name] = theme
    return list(themes.values()), problems


def room_themes(folder: Path | None) -> tuple[list[Theme], list[ThemeProblem]]:
    """The shipped themes, then those of the room's themes folder."""
    if folder is None or folder.resolve() == BUILTIN_THEMES.resolve():
        return load_themes(BUILTIN_THEMES)
    return load_themes(BUILTIN_THEMES, folder)


def resolve_colour(variables: dict[str, str], name: str) -> str:
    """Theme variable ``name`` as an opaque ``#rrggbb`` (alpha laid over the background),
    the form Rich styles take; the foreground when the variable is not a plain colour."""
    background = Color.parse(variables.get("background", "#000000"))
    try:
        colour = Color.parse(variables[name])
    except (KeyError, ColorParseError):
        colour = Color.parse(variables.get("foreground", "#ffffff"))
    return (background + colour).hex6
