"""What the option declaration (options.OPTIONS) tells its other readers: the options a request names, those set on
an animation or a video that cannot apply to it, the upload page's controls, and docs/api.md's table of options."""

from collections.abc import Mapping
from typing import Any

from removal.cutout.option_parsing import Option, is_blank
from removal.cutout.options import OPTIONS, Options


def options_named(params: Mapping[str, Any]) -> tuple[Option, ...]:
    """The options that `params` gives a value, under their name or a further parameter they read (one sent
    blank counts as not given, as everywhere)."""
    return tuple(
        option for option in OPTIONS if any(not is_blank(params.get(name)) for name in (option.name, *option.params))
    )


def not_applicable(options: Options, *, video: bool) -> list[str]:
    """The options set to something other than their default that do not apply to an animation, or to a video."""
    defaults = Options()
    names = [
        option.name
        for option in OPTIONS
        if not (option.videos if video else option.animations)
        and any(getattr(options, name) != getattr(defaults, name) for name in option.fields)
    ]
    if video and options.bg_image_sha256:
        names.append("bg_image")
    return names


def page_choices() -> dict[str, Any]:
    """What the upload page offers (values, labels, defaults, patterns), from the declaration."""
    return {
        option.name: {
            "default": option.default,
            "choices": list(option.labels.items()),
            "pattern": option.pattern,
        }
        for option in OPTIONS
    }


def options_table() -> str:
    """docs/api.md's table of options, from the declaration."""
    rows = ["| option | values | default |", "|---|---|---|"]
    rows += [f"| `{option.name}` | {option.doc_values} | {option.doc_default} |" for option in OPTIONS]
    return "\n".join(rows)
