"""Holdout families that read and write formats: run-length coding, date arithmetic,
key-value strings, duration strings, number bases and Roman numerals. No train family
parses a format or computes with dates."""

from __future__ import annotations

import datetime
import random

from pantheon_engine.evals.codesuite.draw import WORDS, pick
from pantheon_engine.evals.codesuite.task import Args, Draft, Family

# --- run-length coding ----------------------------------------------------------------------------


def _runs(rng: random.Random, low: int, high: int) -> list[tuple[str, int]]:
    runs: list[tuple[str, int]] = []
    for _ in range(rng.randint(low, high)):
        letter = pick(rng, [c for c in "abcdexyz" if not runs or c != runs[-1][0]])
        runs.append((letter, pick(rng, [1, 1, 2, 3, 4, 5, 9, 10, 12])))
    return runs


def draw_run_length(rng: random.Random) -> Draft:
    op = pick(rng, ["encode", "decode", "longest"])
    count_first = rng.random() < 0.5
    omit_one = rng.random() < 0.5
    sep = pick(rng, ["", "", ",", " "]) if op == "encode" else ""
    arg = pick(rng, ["text", "data", "s", "raw"] if op != "decode" else
                ["encoded", "packed", "code", "text"])
    name = pick(rng, {"encode": ["rle_encode", "compress_runs", "run_length"],
                      "decode": ["rle_decode", "expand_runs", "unpack_runs"],
                      "longest": ["longest_run", "max_run", "biggest_streak"]}[op])
    one = " (a count of 1 is left out, the character stands alone)" if omit_one else \
        " (a count of 1 is written too)"
    order = "its length then the character" if count_first else "the character then its length"
    runs_code = ("runs = []\nfor ch in {arg}:\n    if runs and runs[-1][0] == ch:\n"
                 "        runs[-1][1] += 1\n    else:\n        runs.append([ch, 1])\n")
    if op == "encode":
        doc = [f"Run-length encode {arg}: each run of one repeated character becomes {order}"
               f"{one}. Runs are joined by {sep!r}." if sep else
               f"Run-length encode {arg}: each run of one repeated character becomes {order}"
               f"{one}.", "Upper and lower case letters are different characters. An empty "
               "string gives an empty string."]
        count = "('' if n == 1 else str(n))" if omit_one else "str(n)"
        piece = f"{count} + ch" if count_first else f"ch + {count}"
        body = runs_code.format(arg=arg) + f"return {sep!r}.join({piece} for ch, n in runs)\n"
        returns, kind = "str", "str"

        def make(low: int, high: int) -> Args:
            return ("".join(c * n for c, n in _runs(rng, low, high)),)
    elif op == "decode":
        doc = [f"Decode the run-length encoded {arg}: each run is written as {order}{one}; "
               "return the text with every run expanded.",
               "The characters are letters. An empty string gives an empty string; "
               f"{arg} that is not written this way raises ValueError."]
        count = r"(\d*)" if omit_one else r"(\d+)"
        pattern = (count + "([a-zA-Z])") if count_first else ("([a-zA-Z])" + count)
        pair = "n, ch" if count_first else "ch, n"
        body = ("import re\n\n"
                f"if not re.fullmatch(r'(?:{pattern})*', {arg}):\n"
                f"    raise ValueError({arg})\n"
                f"return ''.join(ch * int(n or 1) for {pair} in re.findall(r'{pattern}', "
                f"{arg}))\n")
        returns, kind = "str", "str"

        def make(low: int, high: int) -> Args:
            def one_run(c: str, n: int) -> str:
                written = "" if omit_one and n == 1 else str(n)
                return written + c if count_first else c + written
            return ("".join(one_run(c, n) for c, n in _runs(rng, low, high)),)
    else:
        doc = [f"Return the longest run of one repeated character in {arg} as (character, "
               "length); on a tie the run that comes first wins.",
               "An empty string gives ('', 0)."]
        body = runs_code.format(arg=arg) + ("best = ('', 0)\nfor ch, n in runs:\n"
                                            "    if n > best[1]:\n        best = (ch, n)\n"
                                            "return best\n")
        returns, kind = "tuple[str, int]", "str"

        def make(low: int, high: int) -> Args:
            return ("".join(c * n for c, n in _runs(rng, low, high)),)
    edges: list[Args] = [("",), make(1, 1), make(1, 1)]
    if op == "decode":
        edges += [("3",) if count_first else ("3a",), ("a",), ("ab",), ("a-",)]
    else:
        edges += [("aAaa",), ("zz" + "y" * 11,)]
    return Draft(
        family="run_length", name=name, params=((arg, kind),), returns=returns,
        doc=tuple(doc), body=body, examples=(make(3, 4), make(2, 4)), edges=tuple(edges),
        cases=tuple(make(2, 7) for _ in range(4)),
        key=(op, count_first, omit_one if op != "longest" else None, sep, name))


# --- dates ----------------------------------------------------------------------------------------

_FORMATS = {"%Y-%m-%d": "YYYY-MM-DD", "%d.%m.%Y": "DD.MM.YYYY", "%m/%d/%Y": "MM/DD/YYYY",
            "%Y/%m/%d": "YYYY/MM/DD", "%d-%m-%Y": "DD-MM-YYYY"}
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def draw_dates(rng: random.Random) -> Draft:
    fmt = pick(rng, list(_FORMATS))
    written = _FORMATS[fmt]
    op = pick(rng, ["add_days", "between", "weekday", "add_months", "month_end",
                    "day_of_year"])
    variant = ""
    read = f"datetime.datetime.strptime({{a}}, {fmt!r}).date()"
    head = "import calendar\nimport datetime\n\n"
    params: tuple[tuple[str, str], ...] = (("date", "str"),)
    said = f"Dates are written {written}"
    if op == "add_days":
        name = pick(rng, ["add_days", "shift_date", "days_later"])
        params = (("date", "str"), ("days", "int"))
        doc = [f"Return the date that is a number of days after date (before it when days "
               f"is negative). {said}, the result too."]
        body = f"d = {read.format(a='date')}\nreturn (d + datetime.timedelta(days=days))" \
               f".strftime({fmt!r})\n"
        returns = "str"
    elif op == "between":
        variant = pick(rng, ["signed", "absolute"])
        name = pick(rng, ["days_between", "date_gap", "day_difference"])
        params = (("start", "str"), ("end", "str"))
        doc = ["Return the number of days from start to end "
               + ("(negative when end comes first)." if variant == "signed" else
                  "(never negative: the order does not matter).") + f" {said}."]
        diff = f"({read.format(a='end')} - {read.format(a='start')}).days"
        body = f"return {diff if variant == 'signed' else f'abs({diff})'}\n"
        returns = "int"
    elif op == "weekday":
        variant = pick(rng, ["name", "monday0", "monday1", "sunday0"])
        name = pick(rng, ["weekday", "day_of_week", "which_day"])
        what = {"name": "the English name of its day of the week ('Monday' … 'Sunday')",
                "monday0": "its day of the week as a number, Monday 0 to Sunday 6",
                "monday1": "its day of the week as a number, Monday 1 to Sunday 7",
                "sunday0": "its day of the week as a number, Sunday 0 to Saturday 6"}[variant]
        doc = [f"Return {what}. {said}."]
        value = {"name": f"{_WEEKDAYS!r}[d.weekday()]", "monday0": "d.weekday()",
                 "monday1": "d.weekday() + 1", "sunday0": "(d.weekday() + 1) % 7"}[variant]
        body = f"d = {read.format(a='date')}\nreturn {value}\n"
        returns = "str" if variant == "name" else "int"
    elif op == "add_months":
        name = pick(rng, ["add_months", "months_later", "shift_months"])
        params = (("date", "str"), ("months", "int"))
        doc = [f"Return the date a number of months after date (before it when months is "
               "negative), on the same day of the month; when that month is too short, on its "
               f"last day. {said}, the result too."]
        body = (f"d = {read.format(a='date')}\ntotal = d.year * 12 + d.month - 1 + months\n"
                "year, month = total // 12, total % 12 + 1\n"
                "day = min(d.day, calendar.monthrange(year, month)[1])\n"
                f"return datetime.date(year, month, day).strftime({fmt!r})\n")
        returns = "str"
    elif op == "month_end":
        name = pick(rng, ["month_end", "last_day_of_month", "end_of_month"])
        doc = [f"Return the last day of the month date is in. {said}, the result too."]
        body = (f"d = {read.format(a='date')}\n"
                "last = calendar.monthrange(d.year, d.month)[1]\n"
                f"return d.replace(day=last).strftime({fmt!r})\n")
        returns = "str"
    else:
        name = pick(rng, ["day_of_year", "ordinal_day", "day_number"])
        doc = [f"Return the day of the year of date: 1 for January 1st. {said}."]
        body = f"d = {read.format(a='date')}\nreturn d.timetuple().tm_yday\n"
        returns = "int"
    doc.append("A date that does not exist, or is not written that way, raises ValueError.")

    def date() -> str:
        day = datetime.date(1950, 1, 1) + datetime.timedelta(days=rng.randint(0, 36500))
        return day.strftime(fmt)

    def args() -> Args:
        if op in ("add_days", "add_months"):
            return (date(), rng.randint(-400, 400) if op == "add_days" else rng.randint(-30, 30))
        if op == "between":
            return (date(), date())
        return (date(),)

    leap = datetime.date(2024, 2, 29).strftime(fmt)
    bad = {"%Y-%m-%d": "2023-02-30", "%d.%m.%Y": "31.04.2023", "%m/%d/%Y": "13/01/2023",
           "%Y/%m/%d": "2023/00/10", "%d-%m-%Y": "2023-01-05"}[fmt]
    end_of_year = datetime.date(2023, 12, 31).strftime(fmt)
    extra = {"add_days": (1,), "add_months": (12,), "between": (leap,)}.get(op, ())
    edges = [(leap, *extra), (end_of_year, *extra), (bad, *extra)]
    if op in ("add_days", "add_months"):
        edges.append((datetime.date(2024, 1, 31).strftime(fmt), 1))
    return Draft(
        family="dates", name=name, params=params, returns=returns, doc=tuple(doc),
        body=head + body, examples=(args(), args()), edges=tuple(edges),
        cases=tuple(args() for _ in range(4)), key=(op, fmt, variant, name))


# --- key-value strings ----------------------------------------------------------------------------


def draw_key_values(rng: random.Random) -> Draft:
    pair_sep = pick(rng, [";", ",", "&", "|"])
    kv_sep = pick(rng, ["=", ":", "->", "=>"])
    duplicate = pick(rng, ["last", "first", "raise"])
    missing = pick(rng, ["raise", "skip"])
    numbers = rng.random() < 0.5
    lower = rng.random() < 0.5
    arg = pick(rng, ["text", "query", "settings", "line"])
    name = pick(rng, ["parse_pairs", "parse_settings", "read_options", "to_mapping",
                      "parse_query"])
    doc = [f"Parse {arg}: pairs separated by {pair_sep!r}, each a key and a value separated "
           f"by the first {kv_sep!r}. Return a dict from key to value.",
           "Spaces around keys and values are removed, and empty pairs are skipped."
           + (" Keys are lower-cased." if lower else " Keys keep their case."),
           ("A value that is a whole number (digits, maybe after a '-') becomes an int; "
            "others stay strings. " if numbers else "Values stay strings. ")
           + {"last": "When a key comes twice, the last value wins.",
              "first": "When a key comes twice, the first value wins.",
              "raise": "When a key comes twice, raise ValueError."}[duplicate]
           + (" A pair without the separator raises ValueError." if missing == "raise" else
              " A pair without the separator is skipped.")]
    body = ("import re\n\nresult = {}\n"
            f"for part in {arg}.split({pair_sep!r}):\n    part = part.strip()\n"
            "    if not part:\n        continue\n"
            f"    if {kv_sep!r} not in part:\n"
            + ("        raise ValueError(part)\n" if missing == "raise" else "        continue\n")
            + f"    key, value = (s.strip() for s in part.split({kv_sep!r}, 1))\n"
            + ("    key = key.lower()\n" if lower else "")
            + ("    if re.fullmatch(r'-?[0-9]+', value):\n        value = int(value)\n"
               if numbers else "")
            + {"last": "", "first": "    if key in result:\n        continue\n",
               "raise": "    if key in result:\n        raise ValueError(key)\n"}[duplicate]
            + "    result[key] = value\nreturn result\n")
    returns = "dict[str, int | str]" if numbers else "dict[str, str]"

    def pairs(low: int, high: int, unique: bool = True) -> str:
        keys = rng.sample(WORDS, rng.randint(low, high)) if unique else \
            [pick(rng, WORDS[:6]) for _ in range(rng.randint(low, high))]
        out = []
        for key in keys:
            key = key.capitalize() if rng.random() < 0.3 else key
            value = str(rng.randint(-50, 500)) if rng.random() < 0.5 else pick(rng, WORDS)
            space = pick(rng, ["", "", " "])
            out.append(f"{space}{key}{space}{kv_sep}{space}{value}")
        return pair_sep.join(out)

    key = pick(rng, WORDS)
    return Draft(
        family="key_values", name=name, params=((arg, "str"),), returns=returns,
        doc=tuple(doc), body=body, examples=((pairs(2, 3),), (pairs(2, 4),)),
        edges=(("",), (pair_sep * 2,), (f"{key}{kv_sep}1{pair_sep}{key}{kv_sep}2",),
               (f"{key}{pair_sep}x{kv_sep}y",), (f"a{kv_sep}b{kv_sep}c",),
               (f"{key.upper()}{kv_sep} -7 ",)),
        cases=tuple((pairs(1, 5, unique=rng.random() < 0.6),) for _ in range(4)),
        key=(pair_sep, kv_sep, duplicate, missing, numbers, lower, name))


# --- duration strings -----------------------------------------------------------------------------

_UNITS = {"w": ("week", 604800), "d": ("day", 86400), "h": ("hour", 3600),
          "m": ("minute", 60), "s": ("second", 1)}


def draw_duration_parse(rng: random.Random) -> Draft:
    letters = pick(rng, ["hms", "dhm", "dhms", "wdh", "hm"])
    order = pick(rng, ["any", "strict"])
    empty = pick(rng, ["zero", "raise"])
    smallest = _UNITS[letters[-1]]
    arg = pick(rng, ["text", "duration", "spec", "span"])
    name = pick(rng, ["parse_duration", "duration_to_" + smallest[0] + "s", "read_span",
                      "total_" + smallest[0] + "s"])
    units = ", ".join(f"'{u}' ({_UNITS[u][0]}s)" for u in letters)
    doc = [f"Parse {arg}, a duration written as numbers each followed by a unit letter: "
           f"{units}; like '{'2' + letters[0] + '15' + letters[-1]}'. Return the total in "
           f"{smallest[0]}s.",
           "Spaces anywhere are ignored; unit letters are lower case."
           + (" The parts may come in any order, and a unit may come more than once (the "
              "parts add up)." if order == "any" else " The parts must go from the largest "
              "unit to the smallest, each unit at most once."),
           ("An empty duration is 0." if empty == "zero" else "An empty duration raises "
            "ValueError.") + " Anything else (an unknown unit, a number without a unit, "
           + ("parts out of order, " if order == "strict" else "") + "other characters) "
           "raises ValueError."]
    sizes = {u: _UNITS[u][1] // smallest[1] for u in letters}
    body = ("import re\n\n"
            f"compact = {arg}.replace(' ', '')\nif not compact:\n"
            + ("    return 0\n" if empty == "zero" else f"    raise ValueError({arg})\n")
            + "parts = re.findall(r'([0-9]+)([a-z])', compact)\n"
            "if ''.join(n + u for n, u in parts) != compact:\n    raise ValueError(compact)\n"
            f"sizes = {sizes!r}\ntotal = 0\nlast = None\nfor number, unit in parts:\n"
            "    if unit not in sizes:\n        raise ValueError(unit)\n"
            + ("    if last is not None and sizes[unit] >= last:\n"
               "        raise ValueError(compact)\n    last = sizes[unit]\n"
               if order == "strict" else "")
            + "    total += int(number) * sizes[unit]\nreturn total\n")

    def spec(shuffle: bool) -> str:
        chosen = [u for u in letters if rng.random() < 0.7] or [letters[-1]]
        if shuffle:
            rng.shuffle(chosen)
        return pick(rng, ["", " "]).join(f"{rng.randint(1, 40)}{u}" for u in chosen)

    unknown = pick(rng, [c for c in "wdhmsxy" if c not in letters])
    return Draft(
        family="duration_parse", name=name, params=((arg, "str"),), returns="int",
        doc=tuple(doc), body=body, examples=((spec(False),), (spec(False),)),
        edges=(("",), (f"0{letters[-1]}",), ("15",), (f"3{unknown}",),
               (f"1{letters[-1]}2{letters[0]}",), (f"4{letters[0]}4{letters[0]}",),
               (f"7{letters[0].upper()}",)),
        cases=tuple((spec(order == "any" and rng.random() < 0.4),) for _ in range(4)),
        key=(letters, order, empty, name))


# --- number bases and Roman numerals --------------------------------------------------------------

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_ROMAN = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
          (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]


Piece = tuple[str, list[str], str, tuple[object, ...], int]
"""A number-base task's name, docstring, body, key, and its base (or its largest n)."""


def _to_base(rng: random.Random) -> Piece:
    base = pick(rng, [2, 3, 5, 6, 7, 8, 9, 12, 16, 20, 36])
    upper = base > 10 and rng.random() < 0.5
    negative = pick(rng, ["sign", "raise"])
    prefix = pick(rng, ["", "", "#", f"{base}:"])
    digits = _DIGITS[:base].upper() if upper else _DIGITS[:base]
    name = pick(rng, [f"to_base{base}", "in_base", "format_base", "encode_number"])
    doc = [f"Write the integer n in base {base} with the digits {digits!r}"
           + (f", after the prefix {prefix!r}" if prefix else "") + ". Zero is "
           + repr(prefix + "0") + ".",
           ("A negative n is written with '-' in front of everything." if negative == "sign"
            else "A negative n raises ValueError.")]
    body = ("if n < 0:\n" + ("    raise ValueError(n)\n" if negative == "raise" else
                             f"    return '-' + {name}(-n)\n")
            + f"digits = ''\nrest = n\nwhile True:\n    rest, d = divmod(rest, {base})\n"
            f"    digits = {digits!r}[d] + digits\n    if rest == 0:\n        break\n"
            f"return {prefix!r} + digits\n")
    return name, doc, body, (base, upper, negative, prefix), base


def _from_base(rng: random.Random) -> Piece:
    base = pick(rng, [2, 3, 5, 7, 8, 12, 16, 20, 36])
    name = pick(rng, [f"from_base{base}", "parse_base", "read_number", "decode_number"])
    doc = [f"Read text as an integer written in base {base} with the digits "
           f"{_DIGITS[:base]!r} (letters in either case), maybe after a '-'. Surrounding "
           "spaces are ignored.",
           "Empty text, or a character that is not a digit of this base, raises ValueError."]
    body = ("t = text.strip().lower()\nsign = 1\nif t.startswith('-'):\n"
            "    sign, t = -1, t[1:]\nif not t:\n    raise ValueError(text)\nvalue = 0\n"
            f"for ch in t:\n    d = {_DIGITS!r}.find(ch)\n    if not 0 <= d < {base}:\n"
            f"        raise ValueError(ch)\n    value = value * {base} + d\n"
            "return sign * value\n")
    return name, doc, body, (base,), base


def _to_roman(rng: random.Random) -> Piece:
    additive = rng.random() < 0.4
    lower = rng.random() < 0.3
    limit = pick(rng, [3999, 4999]) if additive else 3999
    table = [(v, s) for v, s in _ROMAN if not additive or len(s) == 1]
    name = pick(rng, ["to_roman", "roman", "roman_numeral"])
    doc = [f"Write n (from 1 to {limit}) in Roman numerals"
           + (", in lower case" if lower else "") + ": "
           + ("the additive form only, without subtraction (4 is IIII, 9 is VIIII, 40 is "
              "XXXX)." if additive else "the standard form, with subtraction (4 is IV, 9 is "
              "IX, 40 is XL, 90 is XC, 400 is CD, 900 is CM)."),
           "Any other n raises ValueError."]
    body = (f"if not 1 <= n <= {limit}:\n    raise ValueError(n)\nout = ''\n"
            f"for value, letters in {table!r}:\n    while n >= value:\n"
            "        out += letters\n        n -= value\n"
            + ("return out.lower()\n" if lower else "return out\n"))
    return name, doc, body, (additive, lower, limit), limit


def draw_number_base(rng: random.Random) -> Draft:
    op = pick(rng, ["to_base", "from_base", "to_roman"])
    name, doc, body, key, size = {"to_base": _to_base, "from_base": _from_base,
                                  "to_roman": _to_roman}[op](rng)
    if op == "from_base":
        base = size

        def write(n: int) -> str:
            digits = ""
            rest = abs(n)
            while True:
                rest, d = divmod(rest, base)
                digits = _DIGITS[d] + digits
                if rest == 0:
                    break
            text = ("-" if n < 0 else "") + digits
            return text.upper() if rng.random() < 0.3 else text

        def some() -> Args:
            return (write(rng.randint(-5000, 100000)),)

        edges: list[Args] = [("0",), ("",), ("-",), (" " + write(base) + " ",),
                             (write(base - 1) + "!",), (_DIGITS[base] if base < 36 else "?",)]
        params, returns = (("text", "str"),), "int"
    else:
        limit = 3999 if op == "to_base" else size

        def some() -> Args:
            return (rng.randint(1, limit),)

        edges = [(0,), (-rng.randint(1, 300),), (1,), (4,), (9,), (limit,)]
        if op == "to_roman":
            edges.append((limit + 1,))
        params, returns = (("n", "int"),), "str"
    return Draft(
        family="number_base", name=name, params=params, returns=returns, doc=tuple(doc),
        body=body, examples=(some(), some()), edges=tuple(edges),
        cases=tuple(some() for _ in range(5)), key=(op, *key, name))


FAMILIES = (
    Family("run_length", "run-length encode and decode", draw_run_length),
    Family("dates", "date arithmetic on formatted dates", draw_dates),
    Family("key_values", "parse key-value strings into a dict", draw_key_values),
    Family("duration_parse", "parse a duration like '1h30m'", draw_duration_parse),
    Family("number_base", "number bases and Roman numerals", draw_number_base),
)
