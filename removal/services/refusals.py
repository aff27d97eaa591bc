"""Why an upload is refused before it is stored, by name: no room or no bytes (files.upload_error), not an image we
take (pipeline.inspect_upload), an option this animation or video cannot take, an animation past its limits, a roi
box that holds none of this image. An option's refusal names the option (RejectedFile.option), which remove.bg's
door answers as a bad value of it (invalid_<option>) rather than as a file it could not read."""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_noop, ngettext

from removal.cutout import pipeline
from removal.cutout.option_lists import not_applicable
from removal.cutout.options import Options
from removal.cutout.roi import roi_is_empty
from removal.services.files import inspected_under_limits, upload_error
from removal.translated import in_language, refusal_text


@dataclass(frozen=True)
class RejectedFile:
    """An upload refused before it was stored: its name, and why (in the caller's language)."""

    filename: str
    error: str
    option: str = ""  # the option it was refused for, where only the image could tell (ImageRejected.option)


def rejected_json(rejected: list[RejectedFile]) -> list[dict[str, str]]:
    """The refusals as the APIs list them ("rejected": [{"filename", "error"}]), without the option one names."""
    return [{"filename": refusal.filename, "error": refusal.error} for refusal in rejected]


def inspected(upload: Any, *, filename: str, room: int, options: Options) -> pipeline.ImageInfo | RejectedFile:
    """The upload's size and kind, or why it is refused (in the page's language; a program's call is English:
    accounts.auth). `room`: how many more items the batch takes."""
    if (error := upload_error(upload, room)) is not None:
        return RejectedFile(filename=filename, error=error)
    try:
        info = inspected_under_limits(upload)
    except pipeline.ImageRejected as exc:
        return RejectedFile(filename=filename, error=refusal_text(exc))
    animated = pipeline.comes_out_animated(info, options, max_frames=settings.MAX_ANIMATION_FRAMES)
    if animated and (
        refusal := _options_not_applicable(filename, info, options) or _animation_refusal(filename, upload, info)
    ):
        return refusal
    return _roi_refusal(filename, info, options) or info


def _options_not_applicable(filename: str, info: pipeline.ImageInfo, options: Options) -> RejectedFile | None:
    """Options that cannot apply to this input, which comes out animated (roi on an animation...), refused by name,
    not ignored; the refusal is the first one's."""
    names = not_applicable(options, video=info.video)
    if not names:
        return None
    refusal = (
        ngettext(
            "%(names)s: cannot apply to a video (every frame is cut out as it is); leave it out",
            "%(names)s: cannot apply to a video (every frame is cut out as it is); leave them out",
            len(names),
        )
        if info.video
        else ngettext(
            "%(names)s: cannot apply to an animation (every frame is cut out as it is); leave it out",
            "%(names)s: cannot apply to an animation (every frame is cut out as it is); leave them out",
            len(names),
        )
    )
    return RejectedFile(filename=filename, error=refusal % {"names": ", ".join(names)}, option=names[0])


def _animation_refusal(filename: str, upload: Any, info: pipeline.ImageInfo) -> RejectedFile | None:
    """Why an input that comes out animated is refused, an animation past its limits (frames, pixels in all) as its
    worker would refuse it; or None."""
    if info.video:
        return None
    try:
        pipeline.check_animation(upload, max_pixels=settings.MAX_IMAGE_PIXELS, max_frames=settings.MAX_ANIMATION_FRAMES)
    except pipeline.ImageRejected as exc:
        return RejectedFile(filename=filename, error=refusal_text(exc))
    return None


def _roi_refusal(filename: str, info: pipeline.ImageInfo, options: Options) -> RejectedFile | None:
    """The image refused for a roi box that holds none of it, which the options alone could not tell ("50% 0
    100px 100%" on an image 200 pixels wide, a box past a small image's edge), rather than cut out wholly transparent;
    or None."""
    if options.roi is None or not roi_is_empty(options.roi, (info.width, info.height)):
        return None
    template = gettext_noop("roi: the box %(roi)s holds none of this %(width)sx%(height)s image; give one inside it")
    error = in_language(template, {"roi": " ".join(options.roi), "width": info.width, "height": info.height})
    return RejectedFile(filename=filename, error=error, option="roi")
