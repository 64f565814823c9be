import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synckit import records

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text("abc", min_size=1, max_size=3),
                                                                      children, max_size=3),
    max_leaves=10,
)


def test_flatten_example():
    row = records.flatten({"id": 1, "address": {"street": "x", "geo": {"lat": 1.5}}, "tags": ["a", "b"], "e": {}})
    assert row == {"id": 1, "address_street": "x", "address_geo_lat": 1.5, "tags": '["a","b"]', "e": None}


@given(st.dictionaries(st.text("xyz", min_size=1, max_size=3), json_values, max_size=5))
def test_flatten_keeps_every_leaf_and_no_nesting(record):
    flat = records.flatten(record)
    for value in flat.values():
        assert not isinstance(value, (dict, list))
    # Every array survives as JSON that decodes to the original.
    def leaves(obj, prefix=""):
        for k, v in obj.items():
            name = f"{prefix}_{k}" if prefix else k
            if isinstance(v, dict) and v:
                yield from leaves(v, name)
            else:
                yield name, v
    for name, value in leaves(record):
        if isinstance(value, list):
            assert json.loads(flat[name]) == value
        elif value == {}:
            assert flat[name] is None


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)))
def test_epoch_round_trip(dt):
    dt = dt.replace(microsecond=0)
    assert records.epoch(str(int(dt.timestamp()))) == dt.isoformat().replace("+00:00", "Z")


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)),
       st.integers(-14 * 60, 14 * 60))
def test_iso_offsets_normalise_to_utc(naive, minutes):
    tz = timezone(timedelta(minutes=minutes))
    aware = naive.replace(tzinfo=tz)
    assert records.parse_iso(aware.isoformat()) == aware
    assert records.iso(aware.isoformat()).endswith("Z")


def test_iso_variants_compare_as_datetimes():
    a = records.parse_iso("2024-06-01T12:00:00Z")
    assert a == records.parse_iso("2024-06-01T12:00:00+00:00") == records.parse_iso("2024-06-01T14:00:00+02:00")
    assert records.parse_iso("2024-06-01T12:00:00.5Z") > a
    assert records.parse_iso("2024-06-01T12:00:00", "UTC") == a


def test_local_time_with_dst():
    # Melbourne: AEDT (+11) in January, AEST (+10) in July.
    assert records.local("2024/01/15 10:00:00", "%Y/%m/%d %H:%M:%S", "Australia/Melbourne") == "2024-01-14T23:00:00Z"
    assert records.local("2024/07/15 10:00:00", "%Y/%m/%d %H:%M:%S", "Australia/Melbourne") == "2024-07-15T00:00:00Z"


def test_money_boolean_integer():
    assert records.money("1234.5000") == 1234.5 and records.money("$1,234.50") == 1234.5
    assert records.money("") is None and records.money(12) == 12.0
    assert records.boolean("true") is True and records.boolean("FALSE") is False and records.boolean("") is None
    assert records.integer("42") == 42
    for bad, fn in [("abc", records.money), ("maybe", records.boolean), ("1.5", records.integer),
                    ("x", records.epoch), ("2024-13-01", records.iso)]:
        with pytest.raises(ValueError):
            fn(bad)


def test_convert_names_the_column():
    with pytest.raises(ValueError, match="column 'amount'"):
        records.convert({"amount": "lots"}, {"amount": records.money})
    assert records.convert({"a": "1", "b": "x"}, {"a": records.integer}) == {"a": 1, "b": "x"}


@given(st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 1, 1)),
       st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 1, 1)))
def test_canonical_strings_order_like_times(a, b):
    sa, sb = a.strftime("%Y-%m-%dT%H:%M:%SZ"), b.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert records.is_canonical(sa) and records.iso(sa) == sa
    assert (sa < sb) == (a.replace(microsecond=0) < b.replace(microsecond=0))


@given(st.dictionaries(st.sampled_from(["a", "b", "a_b", "b_a"]),
                       st.none() | st.integers() | st.dictionaries(st.sampled_from(["a", "b"]), st.integers(),
                                                                   max_size=2), max_size=4))
def test_strict_flatten_refuses_exactly_the_colliding_names(record):
    names = [f"{k}_{inner}" if isinstance(v, dict) and v else k for k, v in record.items()
             for inner in (v if isinstance(v, dict) and v else [None])]
    if len(names) != len(set(names)):
        with pytest.raises(ValueError, match="same column name"):
            records.flatten(record, strict=True)
    else:
        assert records.flatten(record, strict=True) == records.flatten(record)
