"""Train families over text: naming styles, word filters, character counts, truncation,
duplicate removal. Each draw varies the function's name, its constants and its edge
rules with the seed; the holdout families (:mod:`.holdout_families`) are other kinds of
work altogether."""

from __future__ import annotations

import random

from pantheon_engine.evals.codesuite.draw import WORDS, capitalize_some, pick, words
from pantheon_engine.evals.codesuite.task import Args, Draft, Family

# --- naming styles --------------------------------------------------------------------------------

_SEPARATED = {"snake": "_", "kebab": "-", "dotted": ".", "spaced": " "}
_STYLE_WORDS = {"snake": "snake_case", "kebab": "kebab-case", "dotted": "dot.case",
                "spaced": "space separated", "camel": "camelCase", "pascal": "PascalCase",
                "constant": "CONSTANT_CASE", "title": "Title Case"}
_JOIN = {
    "snake": 'return "_".join(parts)',
    "kebab": 'return "-".join(parts)',
    "dotted": 'return ".".join(parts)',
    "camel": 'return parts[0] + "".join(p.capitalize() for p in parts[1:]) if parts else ""',
    "pascal": 'return "".join(p.capitalize() for p in parts)',
    "constant": 'return "_".join(p.upper() for p in parts)',
    "title": 'return " ".join(p.capitalize() for p in parts)',
}
_SPLIT_CAMEL = """\
parts = []
current = ""
for ch in {arg}:
    if ch.isupper() and current:
        parts.append(current)
        current = ch
    else:
        current += ch
if current:
    parts.append(current)
"""


def _identifier(rng: random.Random, source: str, digits: bool) -> str:
    parts = words(rng, 1, 4)
    if digits and rng.random() < 0.5:
        parts.insert(rng.randrange(len(parts) + 1), str(rng.randint(1, 99)))
    if source == "camel":
        return parts[0] + "".join(p.capitalize() for p in parts[1:])
    if source == "pascal":
        return "".join(p.capitalize() for p in parts)
    return _SEPARATED[source].join(parts)


def draw_case_convert(rng: random.Random) -> Draft:
    source = pick(rng, ["snake", "kebab", "dotted", "spaced", "camel", "pascal"])
    target = pick(rng, [t for t in _JOIN if t != source])
    drop_digits = source in _SEPARATED and rng.random() < 0.5
    arg = pick(rng, ["name", "identifier", "text", "label", "key"])
    name = pick(rng, [f"{source}_to_{target}", f"to_{target}_case", f"{target}_from_{source}",
                      f"convert_{source}_{target}"])
    doc = [f"Convert {arg}, written in {_STYLE_WORDS[source]}, to {_STYLE_WORDS[target]}."]
    if source in _SEPARATED:
        sep = _SEPARATED[source]
        body = f"parts = [p.lower() for p in {arg}.split({sep!r}) if p]\n"
        doc.append(f"The words of {arg} are separated by {sep!r}; separators at the ends or "
                   "repeated separators do not make empty words.")
        if drop_digits:
            body += "parts = [p for p in parts if not p.isdigit()]\n"
            doc.append("A word made only of digits is dropped.")
        else:
            doc.append("A word made only of digits is kept as it is.")
    else:
        body = _SPLIT_CAMEL.format(arg=arg) + "parts = [p.lower() for p in parts]\n"
        doc.append("A new word starts at every capital letter; digits stay in the word "
                   "they follow.")
    body += _JOIN[target] + "\n"
    doc.append("An empty string gives an empty string.")
    sep = _SEPARATED.get(source, "_")
    edges: list[Args] = [("",), (pick(rng, WORDS),)]
    if source in _SEPARATED:
        edges += [(sep + sep.join([pick(rng, WORDS), "", pick(rng, WORDS)]) + sep,),
                  (sep.join([pick(rng, WORDS), str(rng.randint(1, 99)), pick(rng, WORDS)]),)]
    else:
        edges.append((_identifier(rng, source, False) + str(rng.randint(2, 9)),))
    return Draft(
        family="case_convert", name=name, params=((arg, "str"),), returns="str",
        doc=tuple(doc), body=body,
        examples=tuple((_identifier(rng, source, False),) for _ in range(2)),
        edges=tuple(edges),
        cases=tuple((_identifier(rng, source, True),) for _ in range(4)),
        key=(source, target, drop_digits, name))


# --- word filters ---------------------------------------------------------------------------------

_TRANSFORMS = {
    "upper": ("word.upper()", "in upper case"),
    "capitalize": ("word.capitalize()", "with its first letter capitalised"),
    "reverse": ("word[::-1]", "reversed"),
    "first3": ("word[:3]", "cut to its first three letters"),
    "last2": ("word[-2:]", "cut to its last two letters"),
}


def _filter_rule(rng: random.Random) -> tuple[str, str, tuple[object, ...]]:
    kind = pick(rng, ["longer", "shorter", "vowel_start", "contains", "even", "ends"])
    if kind == "longer":
        n = rng.randint(3, 5)
        return f"len(word) > {n}", f"longer than {n} letters", (kind, n)
    if kind == "shorter":
        n = rng.randint(4, 6)
        return f"len(word) < {n}", f"shorter than {n} letters", (kind, n)
    if kind == "vowel_start":
        return 'word[0].lower() in "aeiou"', "that start with a vowel (a, e, i, o, u)", (kind,)
    if kind == "contains":
        letter = pick(rng, "aeiorn")
        return f"{letter!r} in word.lower()", f"that contain the letter {letter!r} (in either " \
            "case)", (kind, letter)
    if kind == "even":
        return "len(word) % 2 == 0", "with an even number of letters", (kind,)
    letter = pick(rng, "enrs")
    return f"word.lower().endswith({letter!r})", f"that end with {letter!r} (in either case)", \
        (kind, letter)


def draw_word_filter(rng: random.Random) -> Draft:
    test, said, rule_key = _filter_rule(rng)
    transform = pick(rng, list(_TRANSFORMS))
    expression, how = _TRANSFORMS[transform]
    sep = pick(rng, [" ", "-", ", ", "|", "_", "+"])
    empty = pick(rng, ["", "-", "(none)", "?"])
    arg = pick(rng, ["sentence", "text", "line", "phrase"])
    name = pick(rng, ["pick_words", "select_words", "word_filter", "keep_words",
                      "filter_words", "words_matching"])
    doc = (f"Keep the words of {arg} {said}, each {how}, in their order, joined by {sep!r}.",
           f"Words are separated by whitespace. When no word is kept, return {empty!r}.")
    body = (f"kept = [{expression} for word in {arg}.split() if {test}]\n"
            f"return {sep!r}.join(kept) if kept else {empty!r}\n")

    def sentence(low: int, high: int) -> str:
        return " ".join(capitalize_some(rng, words(rng, low, high)))

    return Draft(
        family="word_filter", name=name, params=((arg, "str"),), returns="str", doc=doc,
        body=body, examples=((sentence(5, 7),), (sentence(4, 6),)),
        edges=(("",), ("   ",), (sentence(1, 1),), ("  " + sentence(2, 3) + "  ",)),
        cases=tuple((sentence(2, 8),) for _ in range(4)),
        key=(rule_key, transform, sep, empty, name))


# --- character counts -----------------------------------------------------------------------------


def _char_class(rng: random.Random) -> tuple[str, str, str]:
    kind = pick(rng, ["vowels", "vowels_y", "digits", "upper", "punct", "letters"])
    if kind == "vowels":
        return "ch.lower() in 'aeiou'", "vowels (a, e, i, o, u in either case)", kind
    if kind == "vowels_y":
        return "ch.lower() in 'aeiouy'", "vowels, y included (a, e, i, o, u, y in either case)", \
            kind
    if kind == "digits":
        return "ch.isdigit()", "digits", kind
    if kind == "upper":
        return "ch.isupper()", "capital letters", kind
    if kind == "punct":
        marks = "".join(sorted(rng.sample(".,;:!?-", 4)))
        return f"ch in {marks!r}", f"punctuation marks among {marks!r}", f"{kind}:{marks}"
    letters = "".join(sorted(rng.sample("bcdfghklmnprst", 4)))
    return f"ch.lower() in {letters!r}", f"letters among {letters!r} (in either case)", \
        f"{kind}:{letters}"


def _mixed_text(rng: random.Random) -> str:
    parts = capitalize_some(rng, words(rng, 2, 6), 0.4)
    text = ""
    for part in parts:
        text += part + pick(rng, [" ", " ", ", ", "! ", "? ", ". ", "; ", "-"])
        if rng.random() < 0.3:
            text += str(rng.randint(0, 99)) + " "
    return text.strip()


def draw_char_count(rng: random.Random) -> Draft:
    test, said, class_key = _char_class(rng)
    output = pick(rng, ["total", "table", "most"])
    arg = pick(rng, ["text", "s", "message", "line"])
    name = pick(rng, {"total": ["count_chars", "how_many", "tally_chars", "char_total"],
                      "table": ["char_table", "count_each", "char_counts", "tally_each"],
                      "most": ["most_common_char", "top_char", "commonest"]}[output])
    if output == "total":
        doc = [f"Count the {said} in {arg}."]
        body = f"return sum(1 for ch in {arg} if {test})\n"
        returns = "int"
    elif output == "table":
        doc = [f"Count each of the {said} in {arg}: a dict from the character (as it is "
               "written, case kept) to how often it occurs.",
               "Characters that do not occur are not in the dict."]
        body = (f"counts: dict[str, int] = {{}}\nfor ch in {arg}:\n    if {test}:\n"
                "        counts[ch] = counts.get(ch, 0) + 1\nreturn counts\n")
        returns = "dict[str, int]"
    else:
        tie = pick(rng, ["first", "smallest"])
        missing = pick(rng, ['""', "None"])
        doc = [f"Return the most frequent of the {said} in {arg}, counting upper and lower "
               "case as one character and returning it in lower case.",
               ("On a tie, the one that occurs first in the text wins."
                if tie == "first" else "On a tie, the alphabetically smallest wins."),
               f"When there is none, return {missing}."]
        order = "order.index(c)" if tie == "first" else "c"
        body = (f"order = [ch.lower() for ch in {arg} if {test}]\n"
                f"if not order:\n    return {missing}\n"
                "counts = {c: order.count(c) for c in order}\n"
                f"return min(counts, key=lambda c: (-counts[c], {order}))\n")
        returns = "str | None" if missing == "None" else "str"
        class_key += f":{tie}:{missing}"
    return Draft(
        family="char_count", name=name, params=((arg, "str"),), returns=returns,
        doc=tuple(doc), body=body, examples=((_mixed_text(rng),), (_mixed_text(rng),)),
        edges=(("",), (pick(rng, WORDS).upper() + " 42!",), ("...",)),
        cases=tuple((_mixed_text(rng),) for _ in range(4)),
        key=(class_key, output, name))


# --- truncation -----------------------------------------------------------------------------------


def draw_truncate(rng: random.Random) -> Draft:
    marker = pick(rng, ["...", "~", " [more]", ">>", "..", " (cut)"])
    boundary = pick(rng, ["char", "word"])
    small = pick(rng, ["raise", "cut_marker"])
    arg = pick(rng, ["text", "title", "caption", "summary"])
    width = pick(rng, ["width", "limit", "max_len", "size"])
    name = pick(rng, ["truncate", "shorten", "clip_text", "fit_width", "ellipsize"])
    doc = [f"Shorten {arg} to at most {width} characters, the marker {marker!r} included.",
           f"A {arg} that fits is returned unchanged. Otherwise keep as many leading "
           f"characters as fit with the marker and append {marker!r}"
           + (", after removing the trailing spaces of the kept part." if boundary == "char"
              else "; but when the cut falls inside a word, drop that partial word (and the "
              "spaces before it). When no whole word fits, keep nothing before the marker.")]
    body = (f"if len({arg}) <= {width}:\n    return {arg}\n"
            f"if {width} < {len(marker)}:\n")
    if small == "raise":
        doc.append(f"When {width} is smaller than the marker and {arg} does not fit, raise "
                   "ValueError.")
        body += f"    raise ValueError({width})\n"
    else:
        doc.append(f"When {width} is smaller than the marker and {arg} does not fit, return "
                   f"the marker's first {width} characters.")
        body += f"    return {marker!r}[:{width}]\n"
    body += f"kept = {arg}[:{width} - {len(marker)}]\n"
    if boundary == "word":
        body += (f"if {arg}[len(kept)] != ' ' and ' ' in kept:\n"
                 "    kept = kept[:kept.rindex(' ')]\n"
                 f"elif {arg}[len(kept)] != ' ':\n    kept = ''\n")
    body += f"return kept.rstrip() + {marker!r}\n"

    def text(low: int, high: int) -> str:
        return " ".join(words(rng, low, high))

    long = text(4, 7)
    return Draft(
        family="truncate", name=name, params=((arg, "str"), (width, "int")), returns="str",
        doc=tuple(doc), body=body,
        examples=((long, rng.randint(12, len(long) - 1)), (text(1, 2), 30)),
        edges=(("", 0), (long, len(long)), (long, len(marker) - 1), (long, len(marker)),
               (pick(rng, WORDS) * 3, len(marker) + 2)),
        cases=tuple((t, rng.randint(len(marker) + 1, len(t) + 3))
                    for t in (text(2, 8) for _ in range(5))),
        key=(marker, boundary, small, name, arg))


# --- duplicates -----------------------------------------------------------------------------------

_SAME = {
    "exact": ("item", "they are equal"),
    "casefold": ("item.lower()", "they are equal ignoring upper and lower case"),
    "strip": ("item.strip()", "they are equal once surrounding spaces are removed"),
    "initial": ("item[:1].lower()", "they start with the same letter (in either case)"),
    "length": ("len(item)", "they have the same length"),
}


def draw_dedupe(rng: random.Random) -> Draft:
    keep = pick(rng, ["first", "last", "unique"])
    same = pick(rng, list(_SAME))
    expression, said = _SAME[same]
    arg = pick(rng, ["items", "names", "entries", "tags"])
    name = pick(rng, {"first": ["dedupe", "unique_first", "drop_repeats", "first_of_each"],
                      "last": ["dedupe_last", "keep_latest", "last_of_each"],
                      "unique": ["singletons", "only_once", "drop_all_repeated"]}[keep])
    doc = [f"Items of {arg} count as the same when {said}."]
    if keep == "first":
        doc.append(f"Return {arg} with only the first of each group of same items, in their "
                   "order.")
        body = (f"seen = set()\nresult = []\nfor item in {arg}:\n    key = {expression}\n"
                "    if key not in seen:\n        seen.add(key)\n        result.append(item)\n"
                "return result\n")
    elif keep == "last":
        doc.append(f"Return {arg} with only the last of each group of same items, in the "
                   "order those last ones appear.")
        body = (f"last = {{}}\nfor index, item in enumerate({arg}):\n"
                f"    last[{expression}] = index\n"
                f"return [item for index, item in enumerate({arg}) "
                f"if last[{expression}] == index]\n")
    else:
        doc.append(f"Return the items of {arg} that have no same item elsewhere in the list, "
                   "in their order.")
        body = (f"counts = {{}}\nfor item in {arg}:\n"
                f"    counts[{expression}] = counts.get({expression}, 0) + 1\n"
                f"return [item for item in {arg} if counts[{expression}] == 1]\n")

    def varied() -> list[str]:
        base = words(rng, 3, 7)
        base += [pick(rng, base) for _ in range(rng.randint(1, 3))]
        rng.shuffle(base)
        if same == "casefold":
            base = capitalize_some(rng, base, 0.4)
        if same == "strip":
            base = [pick(rng, ["", " ", "  "]) + w + pick(rng, ["", " "]) for w in base]
        return base

    word = pick(rng, WORDS)
    return Draft(
        family="dedupe", name=name, params=((arg, "list[str]"),), returns="list[str]",
        doc=tuple(doc), body=body, examples=((varied(),), (varied(),)),
        edges=(([],), ([word],), ([word, word, word],), (sorted(set(words(rng, 3, 5))),)),
        cases=tuple((varied(),) for _ in range(4)), key=(keep, same, name))


FAMILIES = (
    Family("case_convert", "identifiers from one naming style to another", draw_case_convert),
    Family("word_filter", "keep, transform and join the words of a sentence", draw_word_filter),
    Family("char_count", "count characters of a class in a text", draw_char_count),
    Family("truncate", "shorten a text to a width with a marker", draw_truncate),
    Family("dedupe", "remove repeated items of a list", draw_dedupe),
)
