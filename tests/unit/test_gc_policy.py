"""The serving process's collector policy (clarion.realtime.gc_policy): survivors are frozen out
of the automatic full passes, and nothing is lost to it for longer than a sweep."""

import gc
import weakref

import pytest

from clarion.realtime import gc_policy


class Node:
    pass


def cyclic_garbage():
    node = Node()
    node.me = node
    return weakref.ref(node)


@pytest.fixture(autouse=True)
def unfrozen_afterwards():
    yield
    gc.unfreeze()


def test_young_cyclic_garbage_is_collected_before_the_freeze_not_kept_by_it():
    gone = cyclic_garbage()
    gc_policy.freeze_survivors()
    assert gone() is None


def test_what_survived_is_frozen_and_left_out_of_full_collections_until_the_sweep():
    kept = Node()
    before = gc.get_freeze_count()
    gc_policy.freeze_survivors()
    assert gc.get_freeze_count() > before and gc.is_tracked(kept)
    gc.unfreeze()
    frozen_cycle = cyclic_garbage()
    gc.freeze()  # as a cycle that was alive at a freeze and became garbage later
    gc.collect()
    assert frozen_cycle() is not None  # the automatic passes do not walk it
    gc_policy.sweep()
    assert frozen_cycle() is None
    assert gc.get_freeze_count() > 0  # the survivors are frozen again
