"""bgsite.log_filters: the levels of what a request's failure logs."""

import logging
from typing import Any

import pytest

from bgsite.log_filters import RefusalsAsWarnings

pytestmark = pytest.mark.django_db


def request_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(record.levelname, record.getMessage()) for record in caplog.records if record.name == "django.request"]


def test_a_busy_refusal_is_a_warning_not_an_error(api: Any, settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    settings.MAX_WAITING_CUTOUTS = 0  # every synchronous call finds the waiting room full
    with caplog.at_level(logging.INFO):
        reply = api.post("/bgremove", {"img": "https://example.com/a.jpg"})
    assert reply.status_code == 503
    assert request_lines(caplog) == [("WARNING", "Service Unavailable: /bgremove")]


@pytest.mark.parametrize(("status", "level"), [(500, "ERROR"), (503, "WARNING"), (504, "WARNING"), (404, "WARNING")])
def test_only_a_refusal_bgsite_chose_is_lowered(status: int, level: str) -> None:
    logged = logging.WARNING if status < 500 else logging.ERROR
    record = logging.LogRecord("django.request", logged, __file__, 1, "Some status: /x", None, None)
    record.status_code = status
    RefusalsAsWarnings().filter(record)
    assert (record.levelname, record.levelno) == (level, logging.getLevelNamesMapping()[level])
