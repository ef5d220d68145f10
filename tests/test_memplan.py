"""Memory planner: property tests against the independent checker and the lower bound."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcugen.memplan import Buffer, PlanError, align_up, check_plan, lower_bound, plan


@st.composite
def buffer_sets(draw):
    steps = draw(st.integers(1, 12))
    n = draw(st.integers(1, 14))
    buffers = []
    for i in range(n):
        first = draw(st.integers(0, steps - 1))
        last = draw(st.integers(first, steps - 1))
        size = draw(st.integers(0, 5000))
        buffers.append(Buffer(f"b{i}", size, first, last))
    return buffers


@settings(max_examples=300, deadline=None)
@given(buffer_sets(), st.sampled_from([1, 4, 16, 64]))
def test_plan_is_valid_and_not_below_bound(buffers, alignment):
    offsets, arena = plan(buffers, alignment)
    check_plan(buffers, offsets, arena, alignment)
    assert arena >= lower_bound(buffers, alignment)
    assert arena <= sum(align_up(b.size, alignment) for b in buffers)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 4000), min_size=2, max_size=20), st.sampled_from([1, 16]))
def test_chain_reaches_the_bound(sizes, alignment):
    """A chain (each step reads the previous tensor and writes the next) can always reach the bound."""
    buffers = [Buffer(f"t{i}", s, max(i - 1, 0), i) for i, s in enumerate(sizes)]
    offsets, arena = plan(buffers, alignment)
    check_plan(buffers, offsets, arena, alignment)
    assert arena == lower_bound(buffers, alignment)


@settings(max_examples=100, deadline=None)
@given(buffer_sets())
def test_plan_is_deterministic(buffers):
    assert plan(buffers, 16) == plan(buffers, 16)


def test_checker_rejects_overlap_misalignment_and_bounds():
    a, b = Buffer("a", 32, 0, 1), Buffer("b", 32, 1, 2)
    check_plan([a, b], {"a": 0, "b": 32}, 64, 16)
    with pytest.raises(PlanError, match="overlap"):
        check_plan([a, b], {"a": 0, "b": 16}, 64, 16)
    with pytest.raises(PlanError, match="aligned"):
        check_plan([a, b], {"a": 0, "b": 40}, 96, 16)
    with pytest.raises(PlanError, match="outside"):
        check_plan([a, b], {"a": 0, "b": 48}, 64, 16)
    with pytest.raises(PlanError, match="no offset"):
        check_plan([a, b], {"a": 0}, 64, 16)
    # Not live at the same step: sharing bytes is fine.
    c = Buffer("c", 32, 2, 3)
    check_plan([a, c], {"a": 0, "c": 0}, 32, 16)


def test_lower_bound_counts_live_bytes_per_step():
    buffers = [Buffer("x", 100, 0, 1), Buffer("y", 50, 1, 2), Buffer("z", 10, 2, 2)]
    assert lower_bound(buffers, 1) == 150
    assert lower_bound(buffers, 16) == 112 + 64
