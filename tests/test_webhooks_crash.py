"""Short form of the webhook kill -9 drill (bench/webhooks.py; `make crashtest` runs 10 kills per
backend): every committed event and segment join reaches the receiver; repeats keep their message id."""

from __future__ import annotations

from bench.crash import database
from bench.webhooks import drill
from tests.conftest import BACKENDS

import pytest

pytestmark = pytest.mark.serial  # timing-bound: make test runs it after the parallel part


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill9_while_delivering_loses_no_committed_message(backend):
    with database(backend) as url:
        result = drill(backend, url, kills=2, up_between=(1.0, 1.5), threads=2, drain_timeout=60)
    assert result.ok, result.report() + f" missing events {result.missing_events[:5]} joins {result.missing_joins[:5]}" \
                                        f" inconsistent {result.inconsistent[:5]}"
    assert result.joins > 0 and result.events > 0
