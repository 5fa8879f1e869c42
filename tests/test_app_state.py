"""api/app_state.services: the app's Services looked up once per request, then kept in its scope."""

from __future__ import annotations

from types import SimpleNamespace

from footfall.api.app_state import services, services_if_any


class CountingState:
    def __init__(self, **values) -> None:
        self.values = values
        self.lookups = 0

    def __getattr__(self, name: str):
        self.__dict__.setdefault("lookups", 0)
        self.lookups += 1
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


def test_services_are_looked_up_once_per_request():
    state = CountingState(services="the services")
    request = SimpleNamespace(scope={"app": SimpleNamespace(state=state)})
    assert [services(request) for _ in range(5)] == ["the services"] * 5
    assert services_if_any(request) == "the services"
    assert state.lookups == 1
    other = SimpleNamespace(scope={"app": SimpleNamespace(state=state)})
    assert services(other) == "the services" and state.lookups == 2  # a new request looks again


def test_an_app_without_services_has_none():
    request = SimpleNamespace(scope={"app": SimpleNamespace(state=CountingState())})
    assert services_if_any(request) is None and services_if_any(request) is None
