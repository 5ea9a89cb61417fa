from textkit.words import count_words, shout


def test_count_words() -> None:
    assert count_words("a b  c") == 3


def test_shout() -> None:
    assert shout("hello") == "HELLO!"
