"""removal.web.inputs: what a request's fields become before the service takes them."""

import pytest

from removal.web.inputs import url_filename

NAME = "\N{LATIN SMALL LETTER E WITH ACUTE}" * 300  # past the column's 255 characters


@pytest.mark.parametrize(
    ("url", "filename"),
    [
        (f"https://cdn.example/photos/{NAME}.jpeg?w=800", NAME[:250] + ".jpeg"),
        (f"https://cdn.example/{'%C3%A9' * 300}.webp", NAME[:250] + ".webp"),  # as a browser writes the path
        (f"https://cdn.example/v2.{NAME}", f"v2.{NAME}"[:255]),  # after its last dot a name, not an extension
        (f"https://cdn.example/{NAME}", NAME[:255]),
        ("https://cdn.example/shop/cat.jpg", "cat.jpg"),
        ("https://cdn.example/", "image"),
    ],
)
def test_an_image_urls_name_is_its_paths_last_part_cut_to_the_column_keeping_its_extension(
    url: str, filename: str
) -> None:
    """Cut at 255 characters, a URL's long name lost its extension (the item, its download and the batch's zip named
    "éééé…" with no kind)."""
    assert url_filename(url) == filename
