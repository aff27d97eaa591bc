"""removal.translated: removal.cutout's messages in the active language, words and decimal marks."""

from django.utils import translation

from removal.cutout.results import ImageRejected
from removal.translated import in_language, refusal_text
from tests.conftest import REPO

TEMPLATE = "the image is %(megapixels).1f megapixels; the limit is %(limit)g megapixels"


def test_a_message_takes_the_languages_words_and_decimal_mark() -> None:
    values = {"megapixels": 56.04, "limit": 50}
    with translation.override("de"):
        assert in_language(TEMPLATE, values) == "das Bild hat 56,0 Megapixel; die Grenze liegt bei 50 Megapixeln"
    with translation.override("en"):
        assert in_language(TEMPLATE, values) == "the image is 56.0 megapixels; the limit is 50 megapixels"


def test_a_refusal_reads_as_its_message() -> None:
    refused = ImageRejected(TEMPLATE, megapixels=12.25, limit=2.5)
    with translation.override("fr"):
        assert refusal_text(refused) == "l\u2019image fait 12,2 mégapixels\u00a0; la limite est de 2,5 mégapixels"
    assert str(refused) == "the image is 12.2 megapixels; the limit is 2.5 megapixels"


def test_a_messages_counts_are_grouped_as_its_language_groups_them() -> None:
    template = "the batch is full (%(limit)s files at most); start a new batch"
    with translation.override("en"):
        assert in_language(template, {"limit": 12000}) == "the batch is full (12,000 files at most); start a new batch"
    with translation.override("de"):
        assert "12.000" in in_language(template, {"limit": 12000})
    with translation.override("fr"):
        assert "12\u00a0000" in in_language(template, {"limit": 12000})


def test_a_size_is_written_as_digits_in_every_language() -> None:
    """docs/api.md quotes `the image is 9000x9000 (81.0 megapixels)`: the API wrote 9,000x9,000 (German 9.000)."""
    refused = ImageRejected(
        "the image is %(width)sx%(height)s (%(megapixels).1f megapixels); the limit is %(limit)g megapixels",
        width=9000,
        height=9000,
        megapixels=81.0,
        limit=50,
    )
    with translation.override("en"):
        assert refusal_text(refused) == "the image is 9000x9000 (81.0 megapixels); the limit is 50 megapixels"
    with translation.override("de"):
        assert refusal_text(refused).startswith("das Bild hat 9000\u00d79000 Pixel (81,0 Megapixel)")
    assert f"`{refused}`" in (REPO / "docs" / "api.md").read_text()
