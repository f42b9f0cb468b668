"""Request ids: 96 random bits each, unique across the random pool's refills."""

from __future__ import annotations

import re

from satisfice.server.http import new_request_id


def test_request_ids_are_random_hex_and_unique_across_refills() -> None:
    ids = [new_request_id() for _ in range(3 * 512 + 7)]  # crosses the pool's refill boundary twice
    assert all(re.fullmatch(r"req_[0-9a-f]{24}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    # Every hex digit shows up in every position: the bytes are not a counter or a constant.
    for pos in range(4, 28):
        assert len({i[pos] for i in ids}) == 16
