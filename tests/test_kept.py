"""``densenet.kept.Kept``: items lent to one caller at a time, a bounded number kept."""

from __future__ import annotations

import threading

from densenet.kept import Kept


def test_an_item_given_back_is_lent_to_one_caller_then_to_none():
    kept = Kept(4)
    assert kept.take("a") is None
    kept.give("a", 1)
    kept.give("a", 2)
    assert kept.take("a") == 2  # the last given first
    assert kept.take("a") == 1  # the other one is still there
    assert kept.take("a") is None
    assert kept.take("b") is None


def test_items_beyond_size_are_dropped_least_recently_given_first():
    kept = Kept(2)
    kept.give("a", 1)
    kept.give("b", 2)
    kept.give("a", 3)  # three items: "b", given least recently, goes
    kept.give("c", 4)  # three again: "a" is now the least recently given, its older item goes
    assert kept.take("b") is None
    assert kept.take("c") == 4
    assert kept.take("a") == 3
    assert kept.take("a") is None


def test_lending_over_and_over_keeps_the_count_of_what_is_kept():
    kept = Kept(2)
    kept.give("a", 1)
    kept.give("b", 2)
    for _ in range(10):
        kept.give("a", kept.take("a"))
    assert kept.take("b") == 2  # nothing was dropped: two items, size two
    assert kept.take("a") == 1


def test_a_thread_holds_one_item_and_gives_back_the_one_it_held():
    kept = Kept(4)
    assert kept.held is None
    kept.hold("a", 1)
    assert kept.held == ("a", 1)
    assert kept.take("a") is None  # held, not lent
    kept.hold("a", 1)  # the same item again: nothing given back
    assert kept.take("a") is None
    kept.hold("b", 2)
    assert kept.take("a") == 1  # given back when the thread took another
    assert kept.borrow("b") == 2  # what it holds for that key
    kept.give("c", 3)
    assert kept.borrow("c") == 3  # else one lent
    kept.hold(None, None)
    assert kept.held is None
    assert kept.take("b") == 2


def test_each_thread_holds_its_own():
    kept = Kept(4)
    kept.hold("a", 1)
    seen = []
    thread = threading.Thread(target=lambda: seen.append(kept.held))
    thread.start()
    thread.join()
    assert seen == [None]
    assert kept.held == ("a", 1)
