"""ids: ULIDs made one at a time and many at once are the same kind of identifier."""

import time

from ulid import ULID

from footfall import ids


def test_new_ulids_are_ulids_of_now_with_random_parts():
    before = time.time()
    made = ids.new_ulids(500)
    after = time.time()
    assert len(made) == 500 and len(set(made)) == 500
    for value in made:
        parsed = ULID.from_str(value)  # refuses a character outside Crockford's base32
        assert str(parsed) == value and len(value) == 26
        assert before - 0.001 <= parsed.timestamp <= after + 0.001
    # The random parts use all 32 characters in every position (a wrong alphabet or offset would not).
    for position in range(10, 26):
        assert len({value[position] for value in made}) == 32
    assert ids.new_ulids(0) == []


def test_new_ulid_and_new_ulids_share_the_time_prefix():
    one, many = ids.new_ulid(), ids.new_ulids(3)
    assert abs(ULID.from_str(one).timestamp - ULID.from_str(many[0]).timestamp) < 1
    assert all(value[:10] == many[0][:10] for value in many)


def test_new_ulid_random_part_uses_every_character():
    made = [ids.new_ulid() for _ in range(500)]
    assert len(set(made)) == 500 and all(str(ULID.from_str(v)) == v for v in made)
    for position in range(10, 26):
        assert len({value[position] for value in made}) == 32
