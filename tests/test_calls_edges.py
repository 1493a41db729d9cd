"""load_calls() at its edges: a reused client, two loads on one client, Ctrl-C, page size."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import callcov_analytics as cca
from callcov_analytics import QuotaReading
from callcov_analytics.sandbox import Sandbox
from tests.clients import client_for


class Recorder:
    """An observer that keeps what it was told; optionally stops after n pages (Ctrl-C)."""

    def __init__(self, stop_after: int | None = None, gate: threading.Barrier | None = None):
        self.responses: list[QuotaReading] = []
        self.pages: list[int] = []
        self.stop_after, self.gate = stop_after, gate

    def on_response(self, reading: QuotaReading) -> None:
        self.responses.append(reading)

    def on_wait(self, seconds: float, reason: str) -> None:
        pass

    def on_page(self, pages: int, rows: int, total: int | None) -> None:
        self.pages.append(pages)
        if self.gate is not None and pages == 1:
            self.gate.wait(30)  # both loads are under way before either goes on
        if self.stop_after is not None and pages >= self.stop_after:
            raise KeyboardInterrupt


def list_requests(api: Sandbox) -> int:
    return sum(e.path.endswith(("/calls", "/analysis/")) for e in api.log)


def test_a_reused_clients_frames_count_their_own_load(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    first = cca.load_calls(client=client, limit=100, cache=False, progress=False)
    before = list_requests(sandbox)
    second = cca.load_calls(client=client, limit=50, cache=False, progress=False)
    assert first.attrs["requests"] == before
    assert second.attrs["requests"] == list_requests(sandbox) - before
    assert len(second.attrs["quota"]) == second.attrs["requests"]
    assert second.attrs["throttled"] == 0


def test_two_loads_on_one_client_keep_their_own_observers(sandbox: Sandbox) -> None:
    client = client_for(sandbox)
    gate = threading.Barrier(2)
    observers = {"completed": Recorder(gate=gate), "processing": Recorder(gate=gate)}
    frames: dict[str, Any] = {}

    def run(status: str) -> None:
        frames[status] = cca.load_calls(
            client=client,
            status=status,
            limit=20,
            cache=False,
            progress=False,
            observer=observers[status],
        )

    threads = [threading.Thread(target=run, args=(s,)) for s in observers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for status, recorder in observers.items():
        frame = frames[status]
        assert set(frame["status"]) <= {status}
        # each observer heard its own load only: as many responses as its frame counts
        assert len(recorder.responses) == frame.attrs["requests"]
        assert recorder.pages == list(range(1, len(recorder.pages) + 1))
    assert client.observer is None  # nothing left behind on the client


def test_ctrl_c_is_not_swallowed_by_except_exception(sandbox: Sandbox) -> None:
    caught: list[str] = []
    with pytest.raises(KeyboardInterrupt) as info:
        try:
            cca.load_calls(
                client=client_for(sandbox), limit=20, progress=False, observer=Recorder(2)
            )
        except Exception:  # what notebooks and libraries write; Ctrl-C must get through
            caught.append("swallowed")
    assert caught == []
    assert isinstance(info.value, cca.LoadInterrupted)
    assert not isinstance(info.value, Exception)
    assert info.value.partial is not None and len(info.value.partial) >= 2 * 19


def test_a_page_size_of_one_is_refused_before_any_request(sandbox: Sandbox) -> None:
    with pytest.raises(cca.ValidationError, match="from 2 to 1000") as info:
        cca.load_calls(client=client_for(sandbox), limit=1, progress=False)
    assert info.value.param == "limit" and sandbox.log == []
