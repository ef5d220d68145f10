"""Graph -> Graph clean-ups run before lowering (constant folding, no-op removal).

Each pass takes and returns a Graph and may only remove work, never change results.
"""
from __future__ import annotations

from .ir import Graph


def run(graph: Graph) -> Graph:
    return graph
