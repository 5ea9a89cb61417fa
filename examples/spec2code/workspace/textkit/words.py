"""Word helpers."""


def count_words(text: str) -> int:
    """Number of whitespace-separated words in ``text``."""
    return len(text.split())
