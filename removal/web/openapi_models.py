"""The OpenAPI schema of GET /api/v1/models' reply: the models, presets and measurements, and what the models run
on."""

from typing import Any

from removal.cutout import providers
from removal.cutout.options import QUALITIES

MODELS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["models", "default", "providers", "layout", "max_batch", "qualities", "measured"],
    "properties": {
        "models": {"type": "array", "items": {"type": "string"}},
        "default": {"type": "string"},
        "providers": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The ONNX Runtime execution providers the models run on, in order "
            "(e.g. CUDAExecutionProvider, CPUExecutionProvider); see ORT_PROVIDERS.",
        },
        "layout": {
            "type": "string",
            "enum": [providers.PER_THREAD, providers.SHARED],
            "description": "How worker threads run the models: each on its own session, or all on one session "
            "per model that runs their images in batches; see ORT_LAYOUT.",
        },
        "max_batch": {
            "type": "integer",
            "description": "Images per run of a model, at most (1 on the per-thread layout); see ORT_MAX_BATCH.",
        },
        "qualities": {"type": "array", "items": {"type": "string", "enum": list(QUALITIES)}},
        "measured": {
            "type": "object",
            "description": "What `make quality` last measured on real photos: photos (count), "
            "measured_on (date), and models: {model: {preset: {iou, mae, residue, crop_iou, ms_per_image}}} "
            "for the installed models it measured; empty when it has not run.",
        },
    },
}
