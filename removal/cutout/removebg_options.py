"""remove.bg's parameters in this server's option vocabulary (options.OPTIONS): the options it shares, read with its
defaults, and its switches this server does not offer, refused by name (removal.web.removebg)."""

from collections.abc import Mapping
from typing import Any

from removal.cutout.option_parsing import AUTO_FORMAT, PREVIEW_SIZE, InvalidOption, is_blank, is_true
from removal.cutout.options import OPTIONS

# remove.bg's switches this server does not offer, with remove.bg's default for each: sent set to it, a switch asks
# for nothing else and is taken; set otherwise, a 400 names it rather than a silent difference.
REMOVEBG_UNSUPPORTED = {"semitransparency": True}

REMOVEBG_DEFAULT_SIZE = PREVIEW_SIZE  # remove.bg's own default


def removebg_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """remove.bg's parameters as parse_options takes them: the options it shares, and its defaults (format `auto`,
    size `preview`: a client that names no size gets what remove.bg gives it, at most 0.25 megapixels)."""
    shared = {
        name: params[name]
        for option in OPTIONS
        if option.removebg
        for name in (option.name, *option.params)
        if name in params
    }
    return {
        **shared,
        "format": AUTO_FORMAT if is_blank(params.get("format")) else params["format"],
        "size": REMOVEBG_DEFAULT_SIZE if is_blank(params.get("size")) else params["size"],
    }


def removebg_refusals(params: Mapping[str, Any]) -> list[InvalidOption]:
    """Each remove.bg switch in `params` set to what this server does not offer, refused with why."""
    return [
        InvalidOption(name, f"only {str(default).lower()} (remove.bg's default) is offered here, not {value!r}")
        for name, default in REMOVEBG_UNSUPPORTED.items()
        if not is_blank(value := params.get(name)) and is_true(value) != default
    ]
