"""Parsing what users type: names, keys, assignments, durations, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from commands.models import CreateStack, RestoreSnapshot, SetValues, parse_assignments
from domain.durations import format_duration, parse_duration
from domain.errors import InvalidInput, InvalidKey, InvalidStackName
from domain.names import validate_key
from domain.timestamps import from_text, parse_timestamp, to_text


def test_assignments_take_strings_and_json() -> None:
    assert parse_assignments(["a=1", "b:=1", "c:={\"x\": [true]}", "d=x=y", "e="]) == {
        "a": "1", "b": 1, "c": {"x": [True]}, "d": "x=y", "e": ""}


@pytest.mark.parametrize("item", ["novalue", "k:=", "k:={bad", "=v", "bad key=1"])
def test_bad_assignments_are_refused(item: str) -> None:
    with pytest.raises(InvalidInput):
        parse_assignments([item])


def test_command_model_validates_the_stack_name() -> None:
    with pytest.raises(InvalidStackName):
        CreateStack(stack="../etc")


@pytest.mark.parametrize(("text", "expected"), [
    ("90s", timedelta(seconds=90)), ("30m", timedelta(minutes=30)), ("1h", timedelta(hours=1)),
    ("1h30m", timedelta(minutes=90)), ("30d", timedelta(days=30)),
    ("250ms", timedelta(milliseconds=250)), ("1d2h3m4s", timedelta(days=1, seconds=7384)),
])
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["abc", "0", "0s", "-5s", "5", "1h1h", "", "1x"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_duration(text)


def test_duration_rendering() -> None:
    assert format_duration(timedelta(milliseconds=71)) == "71ms"
    assert format_duration(timedelta(minutes=5, seconds=23)) == "5m 23s"
    assert format_duration(timedelta(days=3, hours=4)) == "3d 4h"


def test_timestamps_parse_iso_and_assume_utc() -> None:
    assert parse_timestamp("2025-10-10") == datetime(2025, 10, 10, tzinfo=UTC)
    assert parse_timestamp("2025-10-10T14:30:00Z") == datetime(2025, 10, 10, 14, 30, tzinfo=UTC)
    assert parse_timestamp("2025-10-10T16:30:00+02:00") == datetime(2025, 10, 10, 14, 30, tzinfo=UTC)
    with pytest.raises(InvalidInput):
        parse_timestamp("yesterday")


def test_storage_form_sorts_in_time_order_and_round_trips() -> None:
    a = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
    b = datetime(2025, 1, 1, 10, 0, 0, 1, tzinfo=UTC)
    assert to_text(a) < to_text(b)
    assert from_text(to_text(b)) == b


@pytest.mark.parametrize("moment", [
    datetime(2025, 1, 1, 9, 0, tzinfo=UTC),
    datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2025, 6, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(1999, 2, 28, 0, 0, 0, 120, tzinfo=timezone(timedelta(hours=14))),
])
def test_storage_form_is_utc_with_microseconds_and_a_z(moment: datetime) -> None:
    expected = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert to_text(moment) == expected
    assert to_text(moment) == expected  # remembered: the same text again


@pytest.mark.parametrize("key", ["", "a b", "x" * 256, "k:v", "-k", "tab\t"])
def test_keys_must_be_simple(key: str) -> None:
    with pytest.raises(InvalidKey):
        validate_key(key)


def test_keys_may_have_paths_and_dots() -> None:
    assert validate_key("app/db.host_1-x") == "app/db.host_1-x"


@pytest.mark.parametrize("text", ["99999999999999999d", "36501d", "999999999999999999999ms",
                                  "1" + "0" * 5000 + "s", "36500d1ms"])
def test_durations_longer_than_a_century_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="at most 36500d"):
        parse_duration(text)


def test_the_longest_duration_is_accepted() -> None:
    assert parse_duration("36500d") == timedelta(days=36500)
    assert parse_duration("0005s") == timedelta(seconds=5)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"])
def test_timestamps_outside_the_calendar_in_utc_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="outside the years 1 to 9999"):
        parse_timestamp(text)


def test_extreme_timestamps_keep_a_four_digit_year() -> None:
    assert to_text(parse_timestamp("0001-01-01")) == "0001-01-01T00:00:00.000000Z"
    assert to_text(parse_timestamp("9999-12-31T23:59:59+23:59")) == "9999-12-31T00:00:59.000000Z"
    assert to_text(parse_timestamp("0999-01-01")) < to_text(parse_timestamp("1000-01-01"))


@pytest.mark.parametrize("item", [
    "k:=99999999999999999999", "k:=9223372036854775808", "k:=-9223372036854775809",
    "k:=18446744073709551615", 'k:={"a": [1, {"b": 99999999999999999999}]}',
    "k:=[1.5, -99999999999999999999]", "k:=" + "9" * 5000,
])
def test_integers_beyond_64_bits_are_refused_not_rounded(item: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_assignments([item])
    message = str(refused.value)
    assert "'k'" in message
    assert "quote it" in message or "infinity" in message


def test_integers_at_the_64_bit_limits_and_floats_are_kept_exactly() -> None:
    parsed = parse_assignments(["a:=9223372036854775807", "b:=-9223372036854775808",
                                "c:=[1e20, 1.5]", 'd:={"x": 3}'])
    assert parsed == {"a": 2**63 - 1, "b": -(2**63), "c": [1e20, 1.5], "d": {"x": 3}}
    assert isinstance(parsed["a"], int)


def test_command_models_refuse_unstorable_values_from_any_caller() -> None:
    with pytest.raises(InvalidInput, match="does not fit in a signed 64-bit integer"):
        SetValues(stack="app", values={"k": [2**64]})
    with pytest.raises(InvalidInput, match="not a JSON number"):
        SetValues(stack="app", values={"k": float("nan")})


def test_command_model_field_errors_are_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="invalid version"):
        RestoreSnapshot(stack="app", version=-1)
    with pytest.raises(InvalidInput, match="invalid values"):
        SetValues(stack="app", values={})


def test_names_in_messages_are_shown_as_typed() -> None:
    with pytest.raises(InvalidStackName) as refused:
        CreateStack(stack="café")
    assert "'café'" in str(refused.value)
