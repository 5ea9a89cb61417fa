"""The demo's code work: a small package, and specs whose tests are already written.

Each spec asks for one small function in ``textkit/words.py`` and names its own test file,
written before the night as an engineer would (test first): the test fails until the
function exists and does what the spec says, and each also checks that ``count_words``
keeps working (every spec's acceptance says so), so ``test.pytest`` is a real check of the
night's change; no spec's test depends on another spec's function. The functions are
small enough for the catalogue's code models (Qwen2.5-Coder) to write.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PACKAGE", "SPECS"]

_WORDS = '''\
"""Word helpers."""


def count_words(text: str) -> int:
    """Number of whitespace-separated words in ``text``."""
    return len(text.split())
'''

#: every spec's test also checks that count_words keeps working (each spec's acceptance)
_KEEPS_COUNT_WORDS = '''

def test_count_words_keeps_working() -> None:
    assert count_words("a b  c") == 3
'''

_TEST_WORDS = '''\
from textkit.words import count_words


def test_count_words() -> None:
    assert count_words("a b  c") == 3
    assert count_words("") == 0
'''

_SPEC_TESTS = {
    "tests/test_shout.py": '''\
from textkit.words import count_words, shout


def test_shout() -> None:
    assert shout("hello") == "HELLO!"
    assert shout("Ready, set") == "READY, SET!"
    assert shout("") == "!"
''',
    "tests/test_vowels.py": '''\
from textkit.words import count_vowels, count_words


def test_count_vowels() -> None:
    assert count_vowels("Pantheon") == 3
    assert count_vowels("AEIOU aeiou") == 10
    assert count_vowels("rhythm") == 0
''',
    "tests/test_slugify.py": '''\
from textkit.words import count_words, slugify


def test_slugify() -> None:
    assert slugify("Hello World") == "hello-world"
    assert slugify("  Release   process ") == "release-process"
    assert slugify("single") == "single"
''',
    "tests/test_palindrome.py": '''\
from textkit.words import count_words, is_palindrome


def test_is_palindrome() -> None:
    assert is_palindrome("level")
    assert is_palindrome("Racecar")
    assert not is_palindrome("pantheon")
''',
    "tests/test_initials.py": '''\
from textkit.words import count_words, initials


def test_initials() -> None:
    assert initials("Ada Lovelace") == "AL"
    assert initials("grace brewster hopper") == "GBH"
    assert initials("Linus") == "L"
''',
}

PACKAGE: dict[str, str] = {
    "textkit/__init__.py": '"""Small text helpers."""\n',
    "textkit/words.py": _WORDS,
    "tests/test_words.py": _TEST_WORDS,
    **{path: text + _KEEPS_COUNT_WORDS for path, text in _SPEC_TESTS.items()},
    "conftest.py": "",
}


def _spec(title: str, scope: str, acceptance: list[str], test: str) -> dict[str, Any]:
    return {"title": title, "scope": scope + " Keep count_words unchanged.",
            "acceptance": [*acceptance, "count_words keeps working"],
            "files": ["textkit/words.py"], "tests": test}


SPECS: list[dict[str, Any]] = [
    _spec("Add shout() to textkit.words",
          "Add shout(text: str) -> str returning the text upper-cased with one exclamation "
          "mark appended.", ['shout("hello") returns "HELLO!"'], "tests/test_shout.py"),
    _spec("Add count_vowels() to textkit.words",
          "Add count_vowels(text: str) -> int counting the letters a, e, i, o, u in any case.",
          ['count_vowels("Pantheon") returns 3'], "tests/test_vowels.py"),
    _spec("Add slugify() to textkit.words",
          "Add slugify(title: str) -> str: the words of the title in lower case, joined by "
          "single hyphens.", ['slugify("Hello World") returns "hello-world"'],
          "tests/test_slugify.py"),
    _spec("Add is_palindrome() to textkit.words",
          "Add is_palindrome(text: str) -> bool: True when the text reads the same "
          "backwards, ignoring case.", ['is_palindrome("Racecar") is True'],
          "tests/test_palindrome.py"),
    _spec("Add initials() to textkit.words",
          "Add initials(name: str) -> str: the first letter of each word of the name, "
          "upper-cased, joined with nothing between them.",
          ['initials("Ada Lovelace") returns "AL"'], "tests/test_initials.py"),
]
