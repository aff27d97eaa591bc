"""The OpenAPI schema of GET /api/v1/models' reply: the models, presets and measurements, and what the models run
on (removal.ops.models_run_on)."""

from typing import Any

from removal.cutout import providers
from removal.cutout.options import QUALITIES

# What the models run on (removal.ops.models_run_on): a process's worker threads, or a kind of worker process.
RUNS_ON: dict[str, Any] = {
    "providers": {
        "type": "array",
        "items": {"type": "string"},
        "description": "The ONNX Runtime execution providers the models run on, in order "
        "(e.g. CUDAExecutionProvider, CPUExecutionProvider); see ORT_PROVIDERS.",
    },
    "layout": {
        "type": ["string", "null"],
        "enum": [providers.PER_THREAD, providers.SHARED, None],
        "description": "How worker threads run the models: each on its own session, or all on one session "
        "per model that runs their images in batches; see ORT_LAYOUT.",
    },
    "max_batch": {
        "type": ["integer", "null"],
        "description": "Images per run of a model, at most (1 on the per-thread layout); see ORT_MAX_BATCH.",
    },
}

MODELS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["models", "default", "providers", "layout", "max_batch", "qualities", "measured"],
    "properties": {
        "models": {"type": "array", "items": {"type": "string"}},
        "default": {"type": "string"},
        **RUNS_ON,
        "workers": {
            "type": "array",
            "description": "Only from a web process without worker threads (EMBEDDED_WORKERS=0): the worker "
            "processes seen in the last ITEM_LEASE_SECONDS, one entry for each providers, layout and max_batch "
            "they run the models with, the most threads first; providers, layout and max_batch above are the "
            "first's (an empty list, null and null while none is seen: jobs wait).",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": [*RUNS_ON, "processes", "threads"],
                "properties": {**RUNS_ON, "processes": {"type": "integer"}, "threads": {"type": "integer"}},
            },
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
