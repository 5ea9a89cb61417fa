"""Holdout families over structures: interval merging, matrix operations, walks on a
grid, bracket nesting. No train family does this kind of work (:mod:`.train_text`,
:mod:`.train_numbers`), so the holdout split measures what carries over."""

from __future__ import annotations

import random

from pantheon_engine.evals.codesuite.draw import WORDS, ints, pick
from pantheon_engine.evals.codesuite.task import Args, Draft, Family

# --- intervals ------------------------------------------------------------------------------------

_TOUCH = {
    "overlap": ("start < merged[-1][1]",
                "Intervals are half-open, [start, end): two merge only when they overlap; two "
                "that only touch (one ends where the next starts) stay apart."),
    "touch": ("start <= merged[-1][1]",
              "Intervals are closed, [start, end]: two merge when they overlap or touch (one "
              "ends where the next starts)."),
    "adjacent": ("start <= merged[-1][1] + 1",
                 "Intervals are ranges of whole numbers with both ends included: two merge "
                 "when they overlap or are adjacent (one ends at 4, the next starts at 5)."),
}
_BAD = {
    "raise": ("raise ValueError((start, end))",
              "An interval whose start is after its end raises ValueError."),
    "swap": ("start, end = end, start", "An interval whose start is after its end is read "
             "with its two ends swapped."),
    "skip": ("continue", "An interval whose start is after its end is ignored."),
}


def _spans(rng: random.Random, low: int, high: int, pair: str) -> list[object]:
    spans: list[object] = []
    for _ in range(rng.randint(low, high)):
        start = rng.randint(0, 30)
        end = start + rng.randint(1, 6)
        spans.append([start, end] if pair == "list" else (start, end))
    return spans


def draw_intervals(rng: random.Random) -> Draft:
    op = pick(rng, ["merge", "covered", "groups", "gaps"])
    # half-open intervals that only touch leave a gap of length 0: not asked for
    touch = pick(rng, [t for t in _TOUCH if not (op == "gaps" and t == "overlap")])
    bad = pick(rng, list(_BAD))
    pair = pick(rng, ["list", "tuple"])
    arg = pick(rng, ["intervals", "spans", "ranges", "periods"])
    name = pick(rng, {"merge": ["merge_intervals", "merge_spans", "union_ranges"],
                      "covered": ["covered_length", "total_coverage", "span_cover"],
                      "groups": ["count_groups", "merged_count", "clusters"],
                      "gaps": ["find_gaps", "free_slots", "uncovered"]}[op])
    shape = "[start, end]" if pair == "list" else "(start, end)"
    kind = "list[list[int]]" if pair == "list" else "list[tuple[int, int]]"
    adjacent = touch == "adjacent"
    wrap = "list(m)" if pair == "list" else "m"
    doc = [f"Given {arg}, a list of intervals {shape} in any order: "
           + {"merge": f"merge them and return the merged intervals, sorted by start, each "
                       f"as {shape}.",
              "covered": "return the total length they cover once merged"
                         + (" (the count of whole numbers covered)." if adjacent else
                            " (the sum of end - start over the merged intervals)."),
              "groups": "return how many intervals are left once every interval that "
                        "merges with another has been merged.",
              "gaps": "merge them and return the gaps between consecutive merged intervals, "
                      f"in order, each as {shape}"
                      + (" holding the first and last whole number not covered."
                         if adjacent else " from one's end to the next one's start.")}[op],
           _TOUCH[touch][1], _BAD[bad][1], "No interval gives "
           + ("0." if op in ("covered", "groups") else "an empty list.")]
    body = (f"items = []\nfor start, end in {arg}:\n    if start > end:\n"
            f"        {_BAD[bad][0]}\n    items.append((start, end))\nitems.sort()\n"
            "merged = []\nfor start, end in items:\n"
            f"    if merged and {_TOUCH[touch][0]}:\n"
            "        merged[-1] = (merged[-1][0], max(merged[-1][1], end))\n"
            "    else:\n        merged.append((start, end))\n")
    if op == "merge":
        body += f"return [{wrap} for m in merged]\n"
        returns = kind
    elif op == "covered":
        body += f"return sum(end - start{' + 1' if adjacent else ''} for start, end in merged)\n"
        returns = "int"
    elif op == "groups":
        body += "return len(merged)\n"
        returns = "int"
    else:
        low, high = ("merged[i][1] + 1", "merged[i + 1][0] - 1") if adjacent else \
            ("merged[i][1]", "merged[i + 1][0]")
        make = f"[{low}, {high}]" if pair == "list" else f"({low}, {high})"
        body += f"return [{make} for i in range(len(merged) - 1)]\n"
        returns = kind

    def shaped(*spans: tuple[int, int]) -> list[object]:
        return [list(s) if pair == "list" else s for s in spans]

    a = rng.randint(0, 10)
    b = a + rng.randint(2, 5)
    c = b + rng.randint(2, 5)
    return Draft(
        family="intervals", name=name, params=((arg, kind),), returns=returns,
        doc=tuple(doc), body=body, examples=((_spans(rng, 3, 5, pair),),
                                              (_spans(rng, 3, 4, pair),)),
        edges=(([],), (shaped((a, b)),), (shaped((b, c), (a, b)),),
               (shaped((a, b), (b + 1, c)),), (shaped((c, a), (b, c + 2)),),
               (shaped((a, c), (a + 1, b)),)),
        cases=tuple((_spans(rng, 2, 7, pair),) for _ in range(4)),
        key=(op, touch, bad, pair, name))


# --- matrices -------------------------------------------------------------------------------------

_OPS = {
    "transpose": ("return [list(col) for col in zip(*{m})]", "its transpose",
                  "list[list[int]]"),
    "rotate_cw": ("return [list(row) for row in zip(*{m}[::-1])]",
                  "the matrix rotated a quarter turn clockwise", "list[list[int]]"),
    "rotate_ccw": ("return [list(row) for row in zip(*{m})][::-1]",
                   "the matrix rotated a quarter turn counter-clockwise", "list[list[int]]"),
    "mirror": ("return [row[::-1] for row in {m}]", "the matrix mirrored left to right (each "
               "row reversed)", "list[list[int]]"),
    "flip": ("return [list(row) for row in {m}[::-1]]", "the matrix flipped upside down (the "
             "rows in reverse order)", "list[list[int]]"),
    "diagonal": ("return sum({m}[i][i] for i in range(len({m})))", "the sum of its main "
                 "diagonal (top left to bottom right)", "int"),
    "anti_diagonal": ("return sum({m}[i][len({m}) - 1 - i] for i in range(len({m})))",
                      "the sum of its anti-diagonal (top right to bottom left)", "int"),
    "spiral": ("out = []\nrows = [list(r) for r in {m}]\nwhile rows:\n    out += rows.pop(0)\n"
               "    rows = [list(r) for r in zip(*rows)][::-1]\nreturn out",
               "its items in clockwise spiral order, starting at the top left and going right",
               "list[int]"),
    "row_sums": ("return [sum(row) for row in {m}]", "the sum of each row", "list[int]"),
    "column_sums": ("return [sum(col) for col in zip(*{m})]", "the sum of each column",
                    "list[int]"),
    "column_max": ("return [max(col) for col in zip(*{m})]", "the largest item of each column",
                   "list[int]"),
    "border_sum": ("if not {m}:\n    return 0\nh, w = len({m}), len({m}[0])\n"
                   "return sum(v for i, row in enumerate({m}) for j, v in enumerate(row)\n"
                   "           if i in (0, h - 1) or j in (0, w - 1))",
                   "the sum of the items on its outer border (each counted once)", "int"),
}
_SQUARE = ("diagonal", "anti_diagonal")


def draw_matrix(rng: random.Random) -> Draft:
    op = pick(rng, list(_OPS))
    code, said, returns = _OPS[op]
    ragged = pick(rng, ["raise", "assume"])
    arg = pick(rng, ["matrix", "grid", "rows", "table"])
    name = pick(rng, [op, f"matrix_{op}", f"{op}_of", f"grid_{op}"])
    empty = "0" if returns == "int" else "an empty list"
    doc = [f"Given {arg}, a matrix as a list of rows of integers, return {said}.",
           f"An empty matrix ([]) gives {empty}."]
    body = ""
    if ragged == "raise":
        doc.append("When the rows do not all have the same length, raise ValueError.")
        body += (f"if any(len(row) != len({arg}[0]) for row in {arg}):\n"
                 "    raise ValueError('rows differ in length')\n")
    else:
        doc.append("Every row has the same length.")
    if op in _SQUARE:
        doc.append("When the matrix is not square, raise ValueError.")
        body += (f"if any(len(row) != len({arg}) for row in {arg}):\n"
                 "    raise ValueError('not square')\n")
    body += code.format(m=arg) + "\n"

    def matrix(height: int, width: int) -> list[list[int]]:
        return [ints(rng, width, width, -9, 20) for _ in range(height)]

    def sized() -> list[list[int]]:
        side = rng.randint(2, 4)
        if op in _SQUARE:
            return matrix(side, side)
        return matrix(side, rng.randint(2, 4))

    edges: list[Args] = [([],), (matrix(1, 1),), (matrix(1, rng.randint(2, 4)),),
                         (matrix(rng.randint(2, 4), 1),)]
    if op in _SQUARE:
        edges = [([],), (matrix(1, 1),), (matrix(2, 3),)]
    if ragged == "raise":
        edges.append(([[1, 2, 3], [4, 5]],))
    return Draft(
        family="matrix", name=name, params=((arg, "list[list[int]]"),), returns=returns,
        doc=tuple(doc), body=body, examples=((sized(),), (sized(),)), edges=tuple(edges),
        cases=tuple((sized(),) for _ in range(4)), key=(op, ragged, name))


# --- walks on a grid ------------------------------------------------------------------------------

_LETTERS = {"UDLR": "U (up), D (down), L (left), R (right)",
            "NSEW": "N (north, up), S (south, down), W (west, left), E (east, right)",
            "^v<>": "^ (up), v (down), < (left), > (right)"}


def draw_grid_walk(rng: random.Random) -> Draft:
    letters = pick(rng, list(_LETTERS))
    width, height = rng.randint(3, 9), rng.randint(3, 9)
    start = pick(rng, [(0, 0), (width // 2, height // 2)])
    y_down = rng.random() < 0.5
    edge = pick(rng, ["stay", "raise", "wrap"])
    output = pick(rng, ["position", "visited", "distance"])
    unknown = pick(rng, ["raise", "ignore"])
    arg = pick(rng, ["moves", "path", "steps", "commands"])
    name = pick(rng, {"position": ["walk", "final_position", "robot_end"],
                      "visited": ["cells_visited", "count_visited", "walk_coverage"],
                      "distance": ["walk_distance", "distance_home", "how_far"]}[output])
    up, down, left, right = letters[0], letters[1], letters[3 if letters == "NSEW" else 2], \
        letters[2 if letters == "NSEW" else 3]
    dy = 1 if y_down else -1
    deltas = {up: (0, -dy), down: (0, dy), left: (-1, 0), right: (1, 0)}
    doc = [f"A robot starts at ({start[0]}, {start[1]}) on a grid {width} cells wide (x from "
           f"0 to {width - 1}) and {height} high (y from 0 to {height - 1}); x grows to the "
           f"right and y grows {'downwards' if y_down else 'upwards'}. The string {arg} "
           f"holds one letter per move of one cell: {_LETTERS[letters]}.",
           {"stay": "A move that would leave the grid is not made (the robot stays).",
            "raise": "A move that would leave the grid raises ValueError.",
            "wrap": "A move that would leave the grid comes back in on the opposite side."
            }[edge],
           ("Any other character raises ValueError." if unknown == "raise"
            else "Any other character is ignored."),
           {"position": "Return the final position as (x, y).",
            "visited": "Return how many different cells the robot was on, the start "
                       "included.",
            "distance": "Return the Manhattan distance (|dx| + |dy|) from the start to "
                        "the final position."}[output]]
    body = (f"x, y = {start[0]}, {start[1]}\nseen = {{(x, y)}}\ndeltas = {deltas!r}\n"
            f"for move in {arg}:\n    if move not in deltas:\n"
            + ("        raise ValueError(move)\n" if unknown == "raise" else
               "        continue\n")
            + "    nx, ny = x + deltas[move][0], y + deltas[move][1]\n"
            f"    if not (0 <= nx < {width} and 0 <= ny < {height}):\n"
            + {"stay": "        continue\n", "raise": "        raise ValueError(move)\n",
               "wrap": f"        nx, ny = nx % {width}, ny % {height}\n"}[edge]
            + "    x, y = nx, ny\n    seen.add((x, y))\n"
            + {"position": "return (x, y)\n", "visited": "return len(seen)\n",
               "distance": f"return abs(x - {start[0]}) + abs(y - {start[1]})\n"}[output])
    returns = {"position": "tuple[int, int]", "visited": "int", "distance": "int"}[output]

    def moves(low: int, high: int) -> str:
        return "".join(pick(rng, letters) for _ in range(rng.randint(low, high)))

    def inside(low: int, high: int) -> str:
        """Moves that never leave the grid (the docstring's examples must return)."""
        x, y = start
        made = ""
        for _ in range(rng.randint(low, high)):
            fits = [m for m, (ddx, ddy) in deltas.items()
                    if 0 <= x + ddx < width and 0 <= y + ddy < height]
            move = pick(rng, fits)
            x, y = x + deltas[move][0], y + deltas[move][1]
            made += move
        return made

    return Draft(
        family="grid_walk", name=name, params=((arg, "str"),), returns=returns,
        doc=tuple(doc), body=body, examples=((inside(4, 7),), (inside(3, 6),)),
        edges=(("",), (right * (width + 1),), (up * (height + 1),),
               (moves(2, 3) + pick(rng, ["x", " ", "?"]) + moves(1, 2),)),
        cases=tuple((moves(4, 16),) for _ in range(4)),
        key=(letters, width, height, start, y_down, edge, output, unknown, name))


# --- bracket nesting ------------------------------------------------------------------------------


def _brackets(rng: random.Random, pairs: str, size: int) -> str:
    if size <= 0:
        return ""
    inner = rng.randint(0, size - 1)
    k = rng.randrange(0, len(pairs), 2)
    filler = pick(rng, ["", "", pick(rng, WORDS)[:3]])
    return (pairs[k] + filler + _brackets(rng, pairs, inner) + pairs[k + 1]
            + _brackets(rng, pairs, size - 1 - inner))


def draw_brackets(rng: random.Random) -> Draft:
    pairs = pick(rng, ["()", "[]", "{}", "<>", "()[]{}", "()[]", "{}<>"])
    op = pick(rng, ["depth", "balanced", "first_bad", "pairs"])
    unbalanced = pick(rng, ["minus_one", "raise"]) if op in ("depth", "pairs") else "-"
    arg = pick(rng, ["text", "source", "expression", "code"])
    name = pick(rng, {"depth": ["max_depth", "nesting_depth", "deepest"],
                      "balanced": ["is_balanced", "brackets_ok", "well_nested"],
                      "first_bad": ["first_unmatched", "bad_bracket_at", "find_mismatch"],
                      "pairs": ["count_pairs", "matched_pairs", "bracket_pairs"]}[op])
    shown = ", ".join(pairs[i:i + 2] for i in range(0, len(pairs), 2))
    doc = [f"The brackets are {shown}; every other character of {arg} is ignored. The "
           "brackets are balanced when every closing bracket closes the most recent "
           "still-open bracket of its own kind and none stays open.",
           {"depth": f"Return the deepest nesting of brackets in {arg} (0 with none).",
            "balanced": f"Return whether the brackets of {arg} are balanced.",
            "first_bad": "Return the index of the first closing bracket that closes nothing "
                         "or the wrong kind; with none, the index of the first bracket left "
                         "open at the end; -1 when balanced.",
            "pairs": "Return how many bracket pairs there are."}[op]]
    if op in ("depth", "pairs"):
        doc.append("When the brackets are not balanced, "
                   + ("return -1." if unbalanced == "minus_one" else "raise ValueError."))
    if op == "balanced":
        bad = "return False"
    elif op == "first_bad":
        bad = "return {i}"
    else:
        bad = "return -1" if unbalanced == "minus_one" else "raise ValueError({i})"
    closes = {pairs[i + 1]: pairs[i] for i in range(0, len(pairs), 2)}
    body = (f"closes = {closes!r}\nstack = []\nbest = pairs = 0\n"
            f"for i, ch in enumerate({arg}):\n    if ch in closes.values():\n"
            "        stack.append((ch, i))\n        best = max(best, len(stack))\n"
            "    elif ch in closes:\n        if not stack or stack[-1][0] != closes[ch]:\n"
            f"            {bad.format(i='i')}\n        stack.pop()\n        pairs += 1\n"
            f"if stack:\n    {bad.format(i='stack[0][1]')}\n"
            + {"depth": "return best\n", "pairs": "return pairs\n", "balanced": "return True\n",
               "first_bad": "return -1\n"}[op])
    returns = "bool" if op == "balanced" else "int"

    def broken(text: str) -> str:
        spot = rng.randint(0, len(text))
        return text[:spot] + pick(rng, pairs) + text[spot:]

    good = _brackets(rng, pairs, rng.randint(3, 5))
    return Draft(
        family="brackets", name=name, params=((arg, "str"),), returns=returns,
        doc=tuple(doc), body=body,
        examples=((good,), (_brackets(rng, pairs, 3) if unbalanced == "raise" else
                            broken(_brackets(rng, pairs, 3)),)),
        edges=(("",), ("abc",), (pairs[1] + pairs[0],), (pairs[0] * 3,),
               (pairs[0] + pairs[-1] if len(pairs) > 2 else pairs[0] + pairs[0] + pairs[1],)),
        cases=tuple((_brackets(rng, pairs, rng.randint(1, 6)) if rng.random() < 0.5 else
                     broken(_brackets(rng, pairs, rng.randint(1, 5))),) for _ in range(5)),
        key=(pairs, op, unbalanced, name))


FAMILIES = (
    Family("intervals", "merge intervals and measure what they cover", draw_intervals),
    Family("matrix", "transform or summarise a matrix", draw_matrix),
    Family("grid_walk", "follow moves on a bounded grid", draw_grid_walk),
    Family("brackets", "check and measure bracket nesting", draw_brackets),
)
