"""Static memory plan: every activation buffer gets a fixed arena offset at generation time.

A buffer lives from the step that writes it to its last reader (graph inputs from step 0, graph
outputs to the end). Tensors that alias (RESHAPE) share one buffer. The planner tries several
placement orders and keeps the smallest arena; `check_plan` is independent code that validates
alignment, bounds and that no two buffers live at the same step overlap in memory.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Buffer:
    name: str
    size: int  # bytes, before alignment
    first: int  # first step it is live
    last: int  # last step it is live (inclusive)
    tensors: list = field(default_factory=list)  # tensor indices stored here (aliases share); empty for scratch

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last


class PlanError(Exception):
    pass


def align_up(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


def lower_bound(buffers: list[Buffer], alignment: int) -> int:
    """Max over steps of the aligned bytes live at that step: no plan without aliasing can go lower."""
    if not buffers:
        return 0
    steps = max(b.last for b in buffers) + 1
    live = [0] * (steps + 1)
    for b in buffers:
        live[b.first] += align_up(b.size, alignment)
        live[b.last + 1] -= align_up(b.size, alignment)
    best = running = 0
    for delta in live:
        running += delta
        best = max(best, running)
    return best


def _place(order: list[Buffer], alignment: int, best_fit: bool) -> tuple[dict[str, int], int]:
    """Place buffers one by one in the given order at the lowest (or tightest) gap that fits."""
    placed: list[tuple[int, int, Buffer]] = []  # (offset, end, buffer)
    offsets: dict[str, int] = {}
    arena = 0
    for buf in order:
        size = align_up(buf.size, alignment)
        busy = sorted((o, e) for o, e, other in placed if other.overlaps_in_time(buf))
        candidates = []
        cursor = 0
        for o, e in busy:
            if o - cursor >= size:
                candidates.append((o - cursor, cursor))
            cursor = max(cursor, align_up(e, alignment))
        candidates.append((float("inf"), cursor))  # after everything live at the same time
        gap, offset = min(candidates) if best_fit else min(candidates, key=lambda c: c[1])
        offsets[buf.name] = offset
        placed.append((offset, offset + size, buf))
        arena = max(arena, offset + size)
    return offsets, arena


def _place_ping_pong(buffers: list[Buffer], alignment: int, limit: int) -> dict[str, int] | None:
    """Buffers in order of birth, alternately at the lowest and the highest free offset below `limit`.

    Chains of ops (each reading the previous output) reach the lower bound this way, where
    greedy orders sometimes leave a gap. Returns None when something does not fit.
    """
    placed: list[tuple[int, int, Buffer]] = []
    offsets: dict[str, int] = {}
    for k, buf in enumerate(sorted(buffers, key=lambda b: (b.first, b.last, b.name))):
        size = align_up(buf.size, alignment)
        busy = sorted((o, e) for o, e, other in placed if other.overlaps_in_time(buf))
        gaps, cursor = [], 0
        for o, e in busy:
            if o - cursor >= size:
                gaps.append((cursor, o))
            cursor = max(cursor, e)
        if limit - cursor >= size:
            gaps.append((cursor, limit))
        if not gaps:
            return None
        if k % 2 == 0:
            offset = gaps[0][0]
        else:
            start, end = gaps[-1]
            offset = (end - size) // alignment * alignment
            if offset < start:
                offset = start
        offsets[buf.name] = offset
        placed.append((offset, offset + size, buf))
    return offsets


def plan(buffers: list[Buffer], alignment: int = 16, tries: int = 200, seed: int = 0) -> tuple[dict[str, int], int]:
    """Offsets for every buffer and the arena size. Deterministic for the same inputs."""
    if not buffers:
        return {}, 0
    # Each try costs O(n^2): big graphs get fewer random restarts (by count, so output stays deterministic).
    tries = min(tries, max(4, 2_000_000 // (len(buffers) ** 2)))
    bound = lower_bound(buffers, alignment)
    orders = [
        sorted(buffers, key=lambda b: (-b.size, b.first, b.name)),  # TFLM's greedy by size
        sorted(buffers, key=lambda b: (b.first, -b.size, b.name)),
        sorted(buffers, key=lambda b: (-(b.last - b.first + 1) * b.size, b.name)),
        sorted(buffers, key=lambda b: (-(b.last - b.first), -b.size, b.name)),
    ]
    best = None
    rng = random.Random(seed)
    attempt = 0
    while True:
        if attempt < len(orders):
            order = orders[attempt]
        elif attempt < tries:
            # Perturb the size order: swapping a few neighbours often closes gaps greedy-by-size leaves.
            order = list(orders[0])
            for _ in range(max(1, len(order) // 4)):
                i = rng.randrange(len(order))
                j = min(len(order) - 1, i + rng.randrange(1, 4))
                order[i], order[j] = order[j], order[i]
        else:
            break
        for best_fit in (False, True):
            offsets, arena = _place(order, alignment, best_fit)
            if best is None or arena < best[1]:
                best = (offsets, arena)
        if best[1] <= bound:
            break
        attempt += 1
    if best[1] > bound:
        offsets = _place_ping_pong(buffers, alignment, bound)
        if offsets is not None:
            best = (offsets, max(o + align_up(b.size, alignment) for b in buffers for o in [offsets[b.name]]))
    return best


def check_plan(buffers: list[Buffer], offsets: dict[str, int], arena_size: int, alignment: int) -> None:
    """Independent validation of a plan; raises PlanError on the first violation."""
    for b in buffers:
        if b.name not in offsets:
            raise PlanError(f"buffer {b.name} has no offset")
        o = offsets[b.name]
        if o % alignment:
            raise PlanError(f"buffer {b.name} at offset {o} is not {alignment}-byte aligned")
        if o < 0 or o + b.size > arena_size:
            raise PlanError(f"buffer {b.name} [{o}, {o + b.size}) is outside the arena of {arena_size} bytes")
    by_step = sorted(buffers, key=lambda b: b.first)
    for i, a in enumerate(by_step):
        for b in by_step[i + 1:]:
            if b.first > a.last:
                break
            oa, ob = offsets[a.name], offsets[b.name]
            if oa < ob + b.size and ob < oa + a.size and a.size and b.size:
                raise PlanError(f"buffers {a.name} and {b.name} are live at the same step and overlap in memory")
