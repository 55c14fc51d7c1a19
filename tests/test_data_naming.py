"""CASIA-B naming constants and validation messages."""

from __future__ import annotations

import pytest

from gstsn.data.naming import (
    CONDITIONS,
    SEQ_TYPES,
    VIEWS,
    NamingError,
    full_grid,
    normalize_subject,
    validate_seq_type,
    validate_view,
)


def test_constants():
    assert len(SEQ_TYPES) == 10 and SEQ_TYPES[0] == "nm-01" and SEQ_TYPES[-1] == "cl-02"
    assert VIEWS == ("000", "018", "036", "054", "072", "090", "108", "126", "144", "162", "180")
    assert sum(len(v) for v in CONDITIONS.values()) == 10 and set(CONDITIONS) == {"nm", "bg", "cl"}
    grid = full_grid(["002", "001"])
    assert len(grid) == 220 and grid == sorted(grid) and grid[0] == ("001", "bg-01", "000")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: validate_seq_type("nm-07", where="x.npz row 3"), r"unknown sequence type 'nm-07' in x.npz row 3"),
        (lambda: validate_view("90"), r"unknown view '90'; expected one of \['000', '018'"),
        (lambda: normalize_subject("abc"), "invalid subject id 'abc'"),
    ],
)
def test_errors_name_value_and_choices(call, match):
    with pytest.raises(NamingError, match=match):
        call()


def test_subjects():
    assert normalize_subject("7") == normalize_subject(7) == "007"
    assert normalize_subject("1000") == "1000"
    assert issubclass(NamingError, ValueError)
