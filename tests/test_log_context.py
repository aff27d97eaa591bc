"""Each request's id: in its reply's X-Request-ID, and in every log line of that request, ASGI door included."""

import contextvars
import http.client
import json
import logging
import re
import uuid

import pytest
import requests

from bgsite.log_context import LogContext, job_context, name_batch
from tests.conftest import LiveServer

REQUEST_ID = re.compile(r"[0-9a-f]{32}")


def log_lines_naming(server: LiveServer, request_id: str) -> list[str]:
    return [line for line in server.log().splitlines() if f"request_id={request_id}]" in line]


@pytest.mark.live
def test_a_reply_carries_a_new_request_id_which_its_log_lines_name(embedded_server: LiveServer) -> None:
    reply = requests.get(f"{embedded_server.url}/api/v1/batches", headers={"X-Api-Key": "bgs_nope_wrong"}, timeout=10)
    assert reply.status_code == 401
    request_id = reply.headers["X-Request-ID"]
    assert REQUEST_ID.fullmatch(request_id)
    lines = log_lines_naming(embedded_server, request_id)
    assert any('"GET /api/v1/batches" 401' in line for line in lines), embedded_server.log()[-2000:]
    assert any("WARNING django.request" in line and "Unauthorized" in line for line in lines)


@pytest.mark.live
def test_a_sane_request_id_from_the_client_is_kept(embedded_server: LiveServer) -> None:
    sent = "lb-2f1c.77:req=42"
    reply = requests.get(f"{embedded_server.url}/api/v1/batches", headers={"X-Request-ID": sent}, timeout=10)
    assert reply.headers["X-Request-ID"] == sent
    assert any('"GET /api/v1/batches" 401' in line for line in log_lines_naming(embedded_server, sent))


@pytest.mark.live
@pytest.mark.parametrize("sent", ["a" * 129, 'has space"quote', "tab\there"])
def test_an_unfit_request_id_is_replaced_and_not_logged(embedded_server: LiveServer, sent: str) -> None:
    sent = f"{sent}{uuid.uuid4().hex}"  # the shared server's log holds other tests' lines (a path of 300 a's)
    reply = requests.get(f"{embedded_server.url}/api/v1/batches", headers={"X-Request-ID": sent}, timeout=10)
    assert REQUEST_ID.fullmatch(reply.headers["X-Request-ID"])
    assert log_lines_naming(embedded_server, reply.headers["X-Request-ID"])
    assert sent not in embedded_server.log()


@pytest.mark.live
def test_a_body_refused_before_django_reads_it_carries_the_request_id(embedded_server: LiveServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", embedded_server.port, timeout=10)
    connection.request(  # a length over the limit: answered at once, from the head
        "POST", "/v1.0/removebg", headers={"Content-Length": str(10**10), "X-Request-ID": "refused-1"}
    )
    reply = connection.getresponse()
    assert reply.status == 400 and reply.headers["X-Request-ID"] == "refused-1"
    assert json.loads(reply.read())["errors"][0]["code"] == "file_too_large"
    assert any("refused unread" in line for line in log_lines_naming(embedded_server, "refused-1"))


def test_a_jobs_lines_name_its_item_batch_and_the_request_that_queued_it(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.job")
    caplog.handler.addFilter(LogContext())

    def a_job_then_not() -> None:
        with caplog.at_level(logging.INFO), job_context(item_id="item-1", request_id="req-9"):
            logger.info("before the batch is known")
            name_batch("batch-3")
            logger.info("after")
        logger.info("outside")

    # In a context of its own, as a worker thread's: tests before this one ran services.item_process (which names
    # its batch) outside of any job, in this thread's context.
    contextvars.Context().run(a_job_then_not)
    contexts = [record.context for record in caplog.records]  # type: ignore[attr-defined]
    assert contexts == [" [request_id=req-9 item_id=item-1]", " [request_id=req-9 batch_id=batch-3 item_id=item-1]", ""]
