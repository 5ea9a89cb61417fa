"""Control datasets: data that must *not* make an agent better.

A promotion guard is only trusted if it refuses what it should. :func:`shuffle_replies`
keeps every prompt of a dataset and gives each one the reply of another example, so an
adapter trained on it learns the format of a reply but not which reply a prompt needs.
``pantheon specialize`` trains such an adapter next to the real one and shows that
``promote`` refuses it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from pantheon_engine.errors import ConfigError

CONTROL_SOURCE = "shuffled"


def shuffle_replies(src: Path, dst: Path, *, seed: int = 0) -> int:
    """Write ``src``'s examples to ``dst`` with their final replies permuted; returns the
    number of examples whose reply changed.

    The permutation is a random cycle (no example keeps its own reply); each example's
    ``meta.source`` becomes ``shuffled`` so the data's origin is never mistaken.
    """
    lines = [line for line in Path(src).read_text(encoding="utf-8").splitlines()
             if line.strip()]
    examples = [json.loads(line) for line in lines]
    if len(examples) < 2:
        raise ConfigError(f"{src}: a shuffled control needs at least 2 examples, "
                          f"it has {len(examples)}")
    for number, example in enumerate(examples, 1):
        messages = example.get("messages") or []
        if not messages or messages[-1].get("role") != "assistant":
            raise ConfigError(f"{src} line {number}: the last message is not the reply")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    # a single cycle through the shuffled order: every example gets another's reply
    donor = {order[i]: order[(i + 1) % len(order)] for i in range(len(order))}
    changed = 0
    out = []
    for index, example in enumerate(examples):
        reply = dict(examples[donor[index]]["messages"][-1])
        changed += reply != example["messages"][-1]
        meta = {**(example.get("meta") or {}), "source": CONTROL_SOURCE}
        out.append({**example, "messages": [*example["messages"][:-1], reply], "meta": meta})
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    Path(dst).write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in out),
                         encoding="utf-8")
    return changed
