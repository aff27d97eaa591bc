"""The embedded server's lifespan: one server with worker threads per DATA_DIR on the in-memory channel layer."""

from typing import Any

import pytest

from tests.conftest import LiveServer

pytestmark = pytest.mark.live


def test_a_second_server_on_the_same_data_dir_is_refused_and_says_why_until_the_first_is_gone(
    server_factory: Any,
) -> None:
    """Found by the embedded-default audit: a second `make run` on one DATA_DIR (another PORT) served, its worker
    threads took half of each batch's images, and their progress never reached the first server's websockets
    (20 images done, 11 seen done on the page's socket). The lock goes with its process, a SIGKILL too."""
    first = server_factory()
    first.start()
    second = LiveServer(data_dir=first.data_dir, migrated=True)
    try:
        with pytest.raises(RuntimeError, match="exited with 3"):
            second.start()
        assert f"serves DATA_DIR={first.data_dir} already" in second.log()
        assert f"bgsite server pid {first.process.pid}" in second.log()  # type: ignore[union-attr]
        first.stop(kill=True)
        second.start()
    finally:
        second.stop()
