"""The plain-address fast path of email normalisation accepts only what email-validator accepts."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from footfall.domain import normalize
from footfall.refusals import InvalidInput


def _validator_accepts(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return False
    return True


# st.text over the alphabet: the same strings as from_regex(r"[a-z0-9_+\-.]{1,70}", fullmatch=True), drawn
# about twice as fast (the regex strategy's generation was most of this file's time).
_LABEL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"
_local = st.text(alphabet=_LABEL_CHARS + "_+.", min_size=1, max_size=70)
_label = st.text(alphabet=_LABEL_CHARS, min_size=1, max_size=65)
_tld = st.sampled_from(["com", "io", "arpa", "local", "test", "localhost", "invalid", "onion", "c0m", "x"])


@settings(max_examples=1500, deadline=None)
@given(local=_local, labels=st.lists(_label, min_size=1, max_size=3), tld=_tld)
def test_fast_path_accepts_nothing_email_validator_refuses(local, labels, tld):
    address = f"{local}@{'.'.join(labels)}.{tld}"
    if normalize._plainly_valid(address):
        assert _validator_accepts(address), address


@pytest.mark.parametrize("address", [
    "a@b.arpa", "a@x.local", "a@ab--cd.com", "a@-ab.com", "a@ab-.com", ".a@b.com", "a.@b.com", "a..b@c.com",
    "a@b.c0m", "a@b", "a@" + "b" * 64 + ".com", "a" * 65 + "@b.com", "a@b.localhost", "a@b.c",
])
def test_edge_addresses_get_the_same_verdict_as_email_validator(address):
    try:
        normalize.email(address, "email")
        ours = True
    except InvalidInput:
        ours = False
    assert ours == _validator_accepts(address)


def test_plain_addresses_take_the_fast_path():
    assert normalize._plainly_valid("person42@example.com")
    assert normalize._plainly_valid("first.last+tag@mail.shop-example.co.uk")
    assert not normalize._plainly_valid("Ünïcode@example.com")
