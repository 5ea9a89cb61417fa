"""Train families over numbers and collections: conditional aggregates, running
aggregates, digit grouping, durations as text, and grouping words into a dict."""

from __future__ import annotations

import random

from pantheon_engine.evals.codesuite.draw import WORDS, capitalize_some, ints, pick, words
from pantheon_engine.evals.codesuite.task import Draft, Family

# --- conditional aggregates -----------------------------------------------------------------------


def _predicate(rng: random.Random) -> tuple[str, str, tuple[object, ...]]:
    kind = pick(rng, ["even", "odd", "above", "below", "multiple", "between", "negative"])
    if kind == "even":
        return "n % 2 == 0", "that are even", (kind,)
    if kind == "odd":
        return "n % 2 != 0", "that are odd", (kind,)
    if kind == "negative":
        return "n < 0", "that are negative", (kind,)
    if kind == "above":
        t = rng.randint(-5, 15)
        return f"n > {t}", f"greater than {t}", (kind, t)
    if kind == "below":
        t = rng.randint(-5, 15)
        return f"n < {t}", f"less than {t}", (kind, t)
    if kind == "multiple":
        k = rng.randint(3, 7)
        return f"n % {k} == 0", f"that are multiples of {k} (zero is one)", (kind, k)
    low = rng.randint(-10, 5)
    high = low + rng.randint(3, 12)
    return f"{low} <= n <= {high}", f"from {low} to {high} (both included)", \
        (kind, low, high)


_AGGREGATES = {
    "sum": ("sum(chosen)", "the sum of"),
    "product": ("math.prod(chosen)", "the product of"),
    "max": ("max(chosen)", "the largest of"),
    "min": ("min(chosen)", "the smallest of"),
    "squares": ("sum(n * n for n in chosen)", "the sum of the squares of"),
    "spread": ("max(chosen) - min(chosen)", "the largest minus the smallest of"),
    "count": ("len(chosen)", "how many there are of"),
}


def draw_aggregate(rng: random.Random) -> Draft:
    test, said, predicate_key = _predicate(rng)
    aggregate = pick(rng, list(_AGGREGATES))
    expression, what = _AGGREGATES[aggregate]
    arg = pick(rng, ["numbers", "values", "readings", "scores"])
    name = pick(rng, [f"{aggregate}_selected", f"{aggregate}_of_matching", "aggregate_some",
                      f"selected_{aggregate}", "fold_matching"])
    doc = [f"Return {what} the numbers in {arg} {said}."]
    body = f"chosen = [n for n in {arg} if {test}]\n"
    if aggregate == "product":
        body = "import math\n\n" + body
    returns = "int"
    empty = "natural"
    if aggregate not in ("count", "sum", "squares"):
        empty = pick(rng, ["raise", "zero", "minus_one", "none"])
        if empty == "raise":
            doc.append("When there are none, raise ValueError.")
            body += "if not chosen:\n    raise ValueError('no number matches')\n"
        else:
            value = {"zero": "0", "minus_one": "-1", "none": "None"}[empty]
            doc.append(f"When there are none, return {value}.")
            body += f"if not chosen:\n    return {value}\n"
            returns = "int | None" if empty == "none" else "int"
    else:
        doc.append("When there are none, the result is 0.")
    body += f"return {expression}\n"

    def numbers(low: int, high: int) -> list[int]:
        return ints(rng, low, high, -12, 25)

    return Draft(
        family="aggregate", name=name, params=((arg, "list[int]"),), returns=returns,
        doc=tuple(doc), body=body,
        examples=((numbers(6, 8),), (numbers(5, 7),), (numbers(5, 8),)),
        edges=(([],), ([0],), (numbers(1, 1),), ([rng.randint(-3, 3)] * 3,)),
        cases=tuple((numbers(2, 9),) for _ in range(4)),
        key=(predicate_key, aggregate, empty, name))


# --- running aggregates ---------------------------------------------------------------------------


def draw_running(rng: random.Random) -> Draft:
    kind = pick(rng, ["prefix_sum", "running_max", "running_min", "window_sum", "window_max",
                      "differences", "window_range"])
    k = rng.randint(2, 5)
    arg = pick(rng, ["values", "series", "samples", "numbers"])
    names = {"prefix_sum": ["running_total", "prefix_sums", "cumulative"],
             "running_max": ["running_max", "high_water", "best_so_far"],
             "running_min": ["running_min", "low_water", "lowest_so_far"],
             "window_sum": [f"window_sums_{k}", "sliding_sums", "moving_total"],
             "window_max": [f"window_max_{k}", "sliding_max", "moving_peak"],
             "differences": ["steps", "deltas", f"gaps_{k}"],
             "window_range": ["sliding_spread", f"window_range_{k}", "moving_range"]}
    name = pick(rng, names[kind])
    windowed = kind.startswith("window") or kind == "differences"
    if kind == "prefix_sum":
        doc = [f"Return the running totals of {arg}: item i is the sum of items 0 to i."]
        body = f"out = []\ntotal = 0\nfor v in {arg}:\n    total += v\n    out.append(total)\n"
    elif kind in ("running_max", "running_min"):
        word, fn = ("largest", "max") if kind == "running_max" else ("smallest", "min")
        doc = [f"Return, for each position of {arg}, the {word} item up to and including it."]
        body = f"out = []\nfor i, v in enumerate({arg}):\n    out.append(v if i == 0 else " \
               f"{fn}(out[-1], v))\n"
    elif kind == "differences":
        doc = [f"Return the differences between items {k} apart: item i is {arg}[i + {k}] - "
               f"{arg}[i]."]
        body = f"out = [{arg}[i + {k}] - {arg}[i] for i in range(len({arg}) - {k})]\n"
    else:
        fn, word = {"window_sum": ("sum(w)", "sum"), "window_max": ("max(w)", "largest item"),
                    "window_range": ("max(w) - min(w)", "largest minus smallest item")}[kind]
        doc = [f"Return the {word} of every window of {k} consecutive items of {arg}, in "
               "order."]
        body = f"out = []\nfor i in range(len({arg}) - {k} + 1):\n    w = {arg}[i:i + {k}]\n" \
               f"    out.append({fn})\n"
    short = "empty"
    if windowed:
        short = pick(rng, ["empty", "raise"])
        if short == "raise":
            doc.append(f"When {arg} has fewer than {k + (kind == 'differences')} items, raise "
                       "ValueError.")
            body = f"if len({arg}) < {k + (kind == 'differences')}:\n" \
                   f"    raise ValueError('too short')\n" + body
        else:
            doc.append(f"When {arg} is too short for even one, return an empty list.")
    else:
        doc.append("An empty list gives an empty list.")
    body += "return out\n"

    def series(low: int, high: int) -> list[int]:
        return ints(rng, low, high, -9, 20)

    return Draft(
        family="running", name=name, params=((arg, "list[int]"),), returns="list[int]",
        doc=tuple(doc), body=body, examples=((series(k + 3, k + 5),), (series(k + 2, k + 4),)),
        edges=(([],), (series(1, 1),), (series(k, k),), (series(k + 1, k + 1),)),
        cases=tuple((series(k + 1, k + 8),) for _ in range(4)),
        key=(kind, k if windowed else 0, short, name))


# --- digit grouping -------------------------------------------------------------------------------


def draw_group_digits(rng: random.Random) -> Draft:
    sep = pick(rng, [",", ".", " ", "_", "'"])
    size = pick(rng, [3, 3, 4, 2])
    negative = pick(rng, ["minus", "parens", "trailing"])
    prefix, suffix = pick(rng, [("", ""), ("$", ""), ("", " kg"), ("#", ""), ("", " pts"),
                                ("EUR ", "")])
    arg = pick(rng, ["value", "amount", "n", "number"])
    name = pick(rng, ["group_digits", "format_amount", "pretty_number", "with_separators",
                      "format_count"])
    unit = (f", with {prefix!r} before the digits" if prefix else "") + \
        (f", with {suffix!r} after them" if suffix else "")
    neg = {"minus": "put '-' in front of everything",
           "parens": "wrap everything in parentheses instead of a minus sign",
           "trailing": "put '-' after everything"}[negative]
    doc = (f"Write the integer {arg} with its digits in groups of {size} from the right, "
           f"separated by {sep!r}{unit}.",
           f"For a negative {arg}, {neg}. Zero is written '0'.")
    wrap = {"minus": '"-" + text', "parens": '"(" + text + ")"', "trailing": 'text + "-"'}
    body = (f"digits = str(abs({arg}))\ngroups = []\nwhile len(digits) > {size}:\n"
            f"    groups.insert(0, digits[-{size}:])\n    digits = digits[:-{size}]\n"
            f"groups.insert(0, digits)\ntext = {prefix!r} + {sep!r}.join(groups) + {suffix!r}\n"
            f"return {wrap[negative]} if {arg} < 0 else text\n")
    return Draft(
        family="group_digits", name=name, params=((arg, "int"),), returns="str",
        doc=tuple(doc), body=body,
        examples=((rng.randint(10 ** 5, 10 ** 7),), (-rng.randint(10 ** 3, 10 ** 5),)),
        edges=((0,), (-rng.randint(1, 9),), (10 ** size - 1,), (10 ** size,),
               (-(10 ** size),)),
        cases=tuple((rng.choice([-1, 1]) * rng.randint(10, 10 ** rng.randint(3, 10)),)
                    for _ in range(5)),
        key=(sep, size, negative, prefix, suffix, name))


# --- durations as text ----------------------------------------------------------------------------


def draw_duration_text(rng: random.Random) -> Draft:
    style = pick(rng, ["clock", "minutes_clock", "units", "compact", "words"])
    days = style in ("units", "words") and rng.random() < 0.5
    negative = pick(rng, ["raise", "sign"])
    arg = pick(rng, ["seconds", "total_seconds", "elapsed", "secs"])
    name = pick(rng, ["format_duration", "duration_text", "human_time", "elapsed_text",
                      "as_clock" if "clock" in style else "spell_duration"])
    units = [("d", "day", 86400)] if days else []
    units += [("h", "hour", 3600), ("m", "minute", 60), ("s", "second", 1)]
    body = f"rest = abs({arg})\n"
    if style == "clock":
        doc = [f"Write {arg} as H:MM:SS: hours (not padded, and not limited to 24), then "
               "minutes and seconds with two digits each."]
        body += ("text = f'{rest // 3600}:{rest % 3600 // 60:02d}:{rest % 60:02d}'\n")
    elif style == "minutes_clock":
        doc = [f"Write {arg} as M:SS: whole minutes (not padded, and not limited to 60), then "
               "seconds with two digits."]
        body += "text = f'{rest // 60}:{rest % 60:02d}'\n"
    elif style == "compact":
        doc = [f"Write {arg} as hours, minutes and seconds like '1h02m03s': each part with its "
               "letter, minutes and seconds with two digits; leave out the hours when they are "
               "zero, and the minutes too when both are zero (so '5s', '3m07s')."]
        body += ("h, m, s = rest // 3600, rest % 3600 // 60, rest % 60\n"
                 "if h:\n    text = f'{h}h{m:02d}m{s:02d}s'\n"
                 "elif m:\n    text = f'{m}m{s:02d}s'\nelse:\n    text = f'{s}s'\n")
    else:
        joiner, zero = ("' '", "0s") if style == "units" else ("', '", "0 seconds")
        spelled = ", ".join(f"'{u[0]}'" for u in units) if style == "units" else \
            ", ".join(u[1] for u in units)
        if style == "units":
            doc = [f"Write {arg} as parts with their unit letter ({spelled}), largest first, "
                   "separated by one space, like '1h 5s'. Parts that are zero are left out; "
                   "zero itself is '0s'."]
            part = "f'{count}{letter}'"
        else:
            doc = [f"Write {arg} in words with the units {spelled}, largest first, separated "
                   "by ', ', like '1 hour, 5 seconds' (a unit is plural unless its count is "
                   "1). Parts that are zero are left out; zero itself is '0 seconds'."]
            part = "f'{count} {word}' + ('' if count == 1 else 's')"
        body += (f"parts = []\nfor letter, word, size in {units!r}:\n"
                 "    count, rest = rest // size, rest % size\n"
                 f"    if count:\n        parts.append({part})\n"
                 f"text = {joiner}.join(parts) or {zero!r}\n")
    if negative == "raise":
        doc.append(f"A negative {arg} raises ValueError.")
        body = f"if {arg} < 0:\n    raise ValueError({arg})\n" + body + "return text\n"
    else:
        doc.append(f"A negative {arg} is written as its absolute value with '-' in front.")
        body += f"return '-' + text if {arg} < 0 else text\n"

    def seconds() -> int:
        return rng.randint(0, pick(rng, [59, 3599, 86399, 400000]))

    return Draft(
        family="duration_text", name=name, params=((arg, "int"),), returns="str",
        doc=tuple(doc), body=body,
        examples=((rng.randint(3600, 40000),), (rng.randint(61, 3599),)),
        edges=((0,), (rng.randint(1, 59),), (3600,), (86400 + 60,), (-rng.randint(1, 5000),)),
        cases=tuple((seconds(),) for _ in range(5)),
        key=(style, days, negative, name))


# --- grouping words into a dict -------------------------------------------------------------------

_KEYS = {
    "first": ("word[0]", "their first letter"),
    "last": ("word[-1]", "their last letter"),
    "length": ("len(word)", "their length"),
    "vowels": ("sum(ch in 'aeiou' for ch in word.lower())",
               "their number of vowels (a, e, i, o, u, in either case)"),
    "prefix2": ("word[:2]", "their first two letters"),
}
_VALUES = {
    "list": ("the list of the group's words, in their order",
             "groups.setdefault(key, []).append(word)"),
    "sorted": ("the list of the group's words, sorted alphabetically",
               "groups.setdefault(key, []).append(word)"),
    "count": ("the number of words in the group", "groups[key] = groups.get(key, 0) + 1"),
    "longest": ("the group's longest word (the first one on a tie)",
                "if key not in groups or len(word) > len(groups[key]):\n"
                "        groups[key] = word"),
}


def draw_group_words(rng: random.Random) -> Draft:
    key_kind = pick(rng, list(_KEYS))
    expression, said = _KEYS[key_kind]
    value = pick(rng, list(_VALUES))
    held, update = _VALUES[value]
    fold = rng.random() < 0.5
    arg = pick(rng, ["words", "names", "terms", "tokens"])
    name = pick(rng, ["group_words", "bucket_words", "index_words", f"by_{key_kind}",
                      "words_by_key"])
    doc = [f"Group the words of {arg} by {said}" + (", after lower-casing each word" if fold
                                                     else ", case kept (each word as written)")
           + f": return a dict from each key to {held}.",
           "Empty words are skipped. No word, no key: an empty list gives {}."]
    body = (f"groups = {{}}\nfor word in {arg}:\n    if not word:\n        continue\n"
            + ("    word = word.lower()\n" if fold else "")
            + f"    key = {expression}\n    {update}\n")
    if value == "sorted":
        body += "for key in groups:\n    groups[key].sort()\n"
    body += "return groups\n"
    key_type = "int" if key_kind in ("length", "vowels") else "str"
    value_type = {"list": "list[str]", "sorted": "list[str]", "count": "int",
                  "longest": "str"}[value]

    def some() -> list[str]:
        return capitalize_some(rng, words(rng, 3, 8), 0.3 if fold else 0.15)

    word = pick(rng, WORDS)
    return Draft(
        family="group_words", name=name, params=((arg, "list[str]"),),
        returns=f"dict[{key_type}, {value_type}]", doc=tuple(doc), body=body,
        examples=((some(),), (some(),)),
        edges=(([],), ([""],), ([word, word.upper(), ""],)),
        cases=tuple((some(),) for _ in range(4)),
        key=(key_kind, value, fold, name))


FAMILIES = (
    Family("aggregate", "aggregate the numbers of a list that satisfy a condition",
           draw_aggregate),
    Family("running", "running and sliding-window aggregates of a list", draw_running),
    Family("group_digits", "write an integer with grouped digits", draw_group_digits),
    Family("duration_text", "write a number of seconds as text", draw_duration_text),
    Family("group_words", "group words into a dict by a key", draw_group_words),
)
