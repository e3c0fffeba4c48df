"""The commit a benchmark result names is the tree its servers ran, taken when the run began."""

from __future__ import annotations

from bench.gateway_bench import _same_tree


def test_a_clean_tree_throughout_names_its_commit() -> None:
    start = {"commit": "abc", "dirty": False}
    assert _same_tree(start, {"commit": "abc", "dirty": False}) == {"commit": "abc", "dirty": False}


def test_an_edit_or_a_commit_during_the_run_makes_it_uncommitted() -> None:
    start = {"commit": "abc", "dirty": False}
    assert _same_tree(start, {"commit": "abc", "dirty": True})["dirty"] is True  # edited meanwhile
    moved = _same_tree(start, {"commit": "def", "dirty": False})  # committed meanwhile
    assert moved == {"commit": "abc", "dirty": True}


def test_a_tree_dirty_at_the_start_stays_so() -> None:
    assert _same_tree({"commit": "abc", "dirty": True}, {"commit": "abc", "dirty": False})["dirty"] is True
