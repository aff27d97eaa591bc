"""A JSON body's parameters: read within bounds, and held to the JSON types each takes, one rule at every door.

removal.web.inputs.request_parameters reads a JSON body with json_object: an object, nested at most JSON_MAX_DEPTH
deep, each name once. A form's or query string's value is text; a JSON body's may be any JSON value. Every
parameter read takes a string; a yes/no one (YES_NO) also true or false, or a number (its words 1 and 0); a numeric
one (NUMBERS) also a JSON number. null is not given, as a blank field is (option_parsing.is_blank): the API writes
null itself for an option not set (a batch's `"bg_color": null`), and clients send it for a field they leave unset.
Any other value (an array, an object, a number or true where text is expected) is refused naming the parameter, in
each API's shape (an InvalidOption: remove.bg's code `invalid_<name>`), where `"bg_image_url": []` was read as no
background and `["https://…"]` as its Python text. A parameter a front door starts reading is added here.
"""

import codecs
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from removal.cutout.option_parsing import InvalidOption
from removal.cutout.options import OPTIONS
from removal.errors import BadRequest

# Arrays and objects inside each other in a JSON body. Our bodies are one flat object;
# json.loads on a few thousand levels raises RecursionError (a 500), so deeper ones are
# refused before parsing. The body's size is bounded by max_fields_bytes.
JSON_MAX_DEPTH = 32
# A string (to skip, also when unterminated: one pass, never backtracking) or a bracket.
JSON_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.S)

YES_NO = frozenset({"blob", "semitransparency", "crop", "alpha_matting", "add_shadow", "shadow"})
NUMBERS = frozenset(
    {
        "crop_margin",
        "shadow_opacity",
        "alpha_matting_foreground_threshold",
        "alpha_matting_background_threshold",
        "alpha_matting_erode_size",
        "file_position",
        "type_level",
    }
)
# The others: the options' words and free values, and what the front doors read besides them.
FRONT_DOOR_TEXTS = ("img", "key", "image_url", "image_file_b64", "bg_image_url", "callback_url", "name", "type")
TEXTS = frozenset(
    {*FRONT_DOOR_TEXTS, *(name for option in OPTIONS for name in (option.name, *option.params))} - YES_NO - NUMBERS
)
PARAMETERS = TEXTS | YES_NO | NUMBERS
# Those a multipart part may send an image's bytes in (a file under img or bg_image is that image); the others are text.
IMAGE_PARTS = frozenset({"img", "image_file_b64", "bg_image"})


def check_text_parts(file_fields: Iterable[str]) -> None:
    """InvalidOption for a text parameter that came as a file part: one whose bytes are not UTF-8 (a form written in
    Latin-1), which bgsite.filenameless_parts reads as a file sent without a filename, was taken for an image to
    process (a batch made nameless, a "name" file refused; "send one image per call, not 2" at the others)."""
    for name in file_fields:
        if name in PARAMETERS - IMAGE_PARTS:
            raise InvalidOption(name, "not UTF-8 text; send the form's fields in UTF-8, and images as files")


def check_json_values(parameters: Mapping[str, Any]) -> None:
    """InvalidOption for the first parameter of a JSON body whose value is of a type it does not take; others (no
    parameter a front door reads) are left alone, as their values are."""
    for name, value in parameters.items():
        if name in PARAMETERS and (wanted := _wanted(name, value)):
            raise InvalidOption(name, f"must be {wanted}, not {json_kind(value)}")


def _wanted(name: str, value: Any) -> str:
    """What `name` takes, described, when `value` is not of it; '' when it is."""
    if value is None or isinstance(value, str):
        return ""
    if name in YES_NO:
        return "" if isinstance(value, bool | int) else 'true or false (or "true", "false")'
    if name in NUMBERS:
        return "" if isinstance(value, int | float) and not isinstance(value, bool) else "a number or a string"
    return "a string"


def json_kind(value: Any) -> str:
    """A JSON value's type, as its caller would name it: true, false, a number, an array, an object."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "a number"
    return "an array" if isinstance(value, list) else "an object"


def starts_an_object(body: bytes) -> bool:
    """Whether a body starts as a JSON object does (after a UTF-8 byte order mark and white space, as json allows)."""
    return body.removeprefix(codecs.BOM_UTF8).lstrip()[:1] == b"{"


def json_object(body: bytes) -> dict[str, Any]:
    """The parameters of a JSON body; BadRequest (or InvalidOption naming a parameter) for one they cannot be."""
    if json_depth_over(body, JSON_MAX_DEPTH):
        raise BadRequest(f"the JSON body nests arrays or objects more than {JSON_MAX_DEPTH} deep")
    try:
        parsed = json.loads(body or b"{}", object_pairs_hook=_once_each)
    except ValueError:
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise BadRequest('the JSON body must be an object, e.g. {"img": "https://..."}')
    check_json_values(parsed)
    return parsed


def _once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose names are all different: json keeps the last of a name given twice, without a word."""
    if len(parsed := dict(pairs)) < len(pairs):
        raise given_more_than_once(*next(named for named in Counter(name for name, _ in pairs).items() if named[1] > 1))
    return parsed


def given_more_than_once(name: str, times: int) -> BadRequest:
    """A request that gives a parameter more than once (in its JSON body, its form or its query string), where the
    last was taken without a word: `format=png&format=jpg` made a JPEG."""
    return BadRequest(f"the parameter {name[:100]!r} is given {times} times; give it once")


def json_depth_over(body: bytes, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` deep in `body`, found without parsing it."""
    depth = 0
    for token in JSON_TOKENS.finditer(body):
        bracket = token[0]
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif bracket in (b"]", b"}"):
            depth -= 1
    return False
