"""The warehouse-against-truth comparison every end-to-end test and the reliability matrix use."""

from tools.e2e import compare


def test_single_key():
    rows = [{"id": 1, "name": "a"}, {"id": 2, "name": "old"}, {"id": 2, "name": "old"}, {"id": 9, "name": "x"}]
    result = compare(rows, {1: {"name": "a"}, 2: {"name": "new"}, 3: {"name": "c"}}, "id", ["name"])
    assert result.missing == [3] and result.duplicates == [2] and result.unexpected == [9]
    assert [s[:2] for s in result.stale] == [(2, "name")]


def test_composite_key_of_a_child_table():
    rows = [{"parent_id": 1, "key": "colour", "value": "red"}, {"parent_id": 2, "key": "colour", "value": "blue"}]
    truth = {(1, "colour"): {"value": "red"}, (2, "colour"): {"value": "green"}, (2, "size"): {"value": "L"}}
    result = compare(rows, truth, ("parent_id", "key"), ["value"])
    assert result.missing == [(2, "size")] and [s[0] for s in result.stale] == [(2, "colour")]
    assert not result.duplicates and not result.unexpected
