"""The data-key ring on its own: sealing, opening, the blind index."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from galley.config_values import parse_keys
from galley.privacy.keys import DataKeys, UnreadableData
from tests.auth import NEXT_DATA_KEY, TEST_DATA_KEYS

OLD = DataKeys(parse_keys(TEST_DATA_KEYS))
BOTH = DataKeys(parse_keys(f"{NEXT_DATA_KEY},{TEST_DATA_KEYS}"))
NEW_ONLY = DataKeys(parse_keys(NEXT_DATA_KEY))


@given(st.text(max_size=500))
def test_a_sealed_value_opens_to_itself(value: str) -> None:
    sealed = OLD.seal(value, "orders.delivery")
    assert OLD.unseal(sealed, "orders.delivery") == value


def test_sealing_twice_gives_different_ciphertexts() -> None:
    assert OLD.seal("ada@example.com", "users.email") != OLD.seal("ada@example.com", "users.email")


def test_a_sealed_value_names_the_key_that_sealed_it() -> None:
    assert OLD.seal("x", "users.name").startswith("data1:")
    assert BOTH.seal("x", "users.name").startswith("data2:")


def test_every_key_of_the_ring_opens_what_it_sealed() -> None:
    assert BOTH.unseal(OLD.seal("Ada", "users.name"), "users.name") == "Ada"


def test_a_value_does_not_open_in_another_column() -> None:
    with pytest.raises(UnreadableData, match="does not open"):
        OLD.unseal(OLD.seal("ada@example.com", "users.email"), "users.name")


def test_a_value_sealed_under_a_removed_key_names_that_key() -> None:
    with pytest.raises(UnreadableData, match="data1"):
        NEW_ONLY.unseal(OLD.seal("Ada", "users.name"), "users.name")


@pytest.mark.parametrize("flip", [7, 20, -3])
def test_an_altered_value_does_not_open(flip: int) -> None:
    sealed = list(OLD.seal("Ada Lovelace", "users.name"))
    sealed[flip] = "A" if sealed[flip] != "A" else "B"
    with pytest.raises(UnreadableData):
        OLD.unseal("".join(sealed), "users.name")


def test_the_email_index_is_stable_keyed_and_found_under_every_key() -> None:
    index = OLD.email_index("ada@example.com")
    assert index == OLD.email_index("ada@example.com")
    assert index != NEW_ONLY.email_index("ada@example.com")
    assert "ada" not in index
    assert BOTH.email_indexes("ada@example.com") == [
        NEW_ONLY.email_index("ada@example.com"),
        index,
    ]
