"""bgsite_client.remove: how `bgsite remove` splits a folder into upload requests."""

from pathlib import Path

from bgsite_client.folder import Job
from bgsite_client.remove import MAX_REQUEST_BYTES, MIN_REQUEST_BYTES, _next_request, request_bytes

MIB = 2**20


def jobs_of(folder: Path, sizes: list[int]) -> list[Job]:
    jobs = []
    for index, size in enumerate(sizes):
        source = folder / f"{index}.jpg"
        source.write_bytes(bytes(size))
        jobs.append(Job(source=source, target=folder / f"{index}.png"))
    return jobs


def test_a_batchs_requests_grow_with_what_it_has_received() -> None:
    # The server starts on a request's images only once all of it has arrived: the first requests are small so
    # its workers start at once, later ones large so a big folder goes in few requests (rate limits).
    assert (MIN_REQUEST_BYTES, MAX_REQUEST_BYTES) == (MIB, 8 * MIB)
    assert [request_bytes(received) for received in (0, MIB // 2, 3 * MIB, 20 * MIB)] == [MIB, MIB, 3 * MIB, 8 * MIB]


def test_a_request_stops_once_its_bytes_are_reached(tmp_path: Path) -> None:
    photos = jobs_of(tmp_path, [3 * MIB] * 5)
    assert _next_request(photos, 100, 8 * MIB) == (photos[:3], 9 * MIB)  # the third passes 8
    assert _next_request(photos[3:], 100, 8 * MIB) == (photos[3:], 6 * MIB)


def test_small_images_go_as_many_as_the_server_takes(tmp_path: Path) -> None:
    photos = jobs_of(tmp_path, [1000] * 7)
    assert _next_request(photos, 100, MIB) == (photos, 7000)
    assert _next_request(photos, 5, MIB) == (photos[:5], 5000)


def test_an_image_larger_than_a_request_goes_alone(tmp_path: Path) -> None:
    photos = jobs_of(tmp_path, [9 * MIB, 1000])
    assert _next_request(photos, 100, 8 * MIB) == (photos[:1], 9 * MIB)
