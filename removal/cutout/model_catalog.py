"""The catalog of model weights bgsite can install: rembg's published models, declared once.

Each entry is what rembg's own session class fetches (`rembg/sessions/*.py`, rembg 2.0.86):
the same release URL and the same checksum as its `pooch.retrieve` call, so a file
installed here is byte for byte the one rembg would have downloaded. `manage.py models`
lists, pulls and verifies them (removal/cutout/model_files.py); docs/models.md shows the table.

Not listed: rembg's models that need more than an image (sam: prompts), that are made
from another on first use (birefnet-general-fp16) or that take a file of the user's own
(u2net_custom, dis_custom, ben_custom). An int8 copy (`<name>-int8`, made by
scripts/quantize_model.py) is derived from an installed model, not downloaded.
"""

from dataclasses import dataclass

RELEASES = "https://github.com/danielgatis/rembg/releases/download/v0.0.0"
INT8_SUFFIX = "-int8"


@dataclass(frozen=True)
class CatalogModel:
    name: str
    url: str
    # "<algorithm>:<hex digest>" exactly as in rembg's pooch call; None where rembg gives none,
    # and then `models pull` needs the operator's own `--checksum`.
    checksum: str | None
    licence: str
    # False: the licence forbids commercial use; pulling it needs --accept-non-commercial.
    commercial_use: bool
    # The side of the square the model sees (rembg resizes every image to it).
    input_side: int
    # Bytes of the file, where a copy was measured here; None: not known on this machine.
    size_bytes: int | None
    # Where the weights come from (and their licence is stated).
    source: str
    # U²-Net family models share rembg's U2netSession prediction and can be quantized to int8.
    u2net_family: bool = False


CATALOG: dict[str, CatalogModel] = {
    model.name: model
    for model in (
        CatalogModel(
            name="u2netp",
            url=f"{RELEASES}/u2netp.onnx",
            checksum="md5:8e83ca70e441ab06c318d82300c84806",
            licence="Apache-2.0",
            commercial_use=True,
            input_side=320,
            size_bytes=4_574_861,
            source="https://github.com/xuebinqin/U-2-Net",
            u2net_family=True,
        ),
        CatalogModel(
            name="u2net",
            url=f"{RELEASES}/u2net.onnx",
            checksum="md5:60024c5c889badc19c04ad937298a77b",
            licence="Apache-2.0",
            commercial_use=True,
            input_side=320,
            size_bytes=175_997_641,
            source="https://github.com/xuebinqin/U-2-Net",
            u2net_family=True,
        ),
        CatalogModel(
            name="u2net_human_seg",
            url=f"{RELEASES}/u2net_human_seg.onnx",
            checksum="md5:c09ddc2e0104f800e3e1bb4652583d1f",
            licence="Apache-2.0",
            commercial_use=True,
            input_side=320,
            size_bytes=None,
            source="https://github.com/xuebinqin/U-2-Net",
            u2net_family=True,
        ),
        CatalogModel(
            name="u2net_cloth_seg",
            url=f"{RELEASES}/u2net_cloth_seg.onnx",
            checksum="md5:2434d1f3cb744e0e49386c906e5a08bb",
            licence="MIT",
            commercial_use=True,
            input_side=768,
            size_bytes=None,
            source="https://github.com/levindabhi/cloth-segmentation",
        ),
        CatalogModel(
            name="silueta",
            url=f"{RELEASES}/silueta.onnx",
            checksum="md5:55e59e0d8062d2f5d013f4725ee84782",
            # A smaller u2net published in U-2-Net's issue tracker, under that repository's licence.
            licence="Apache-2.0",
            commercial_use=True,
            input_side=320,
            size_bytes=None,
            source="https://github.com/xuebinqin/U-2-Net/issues/295",
            u2net_family=True,
        ),
        CatalogModel(
            name="isnet-general-use",
            url=f"{RELEASES}/isnet-general-use.onnx",
            checksum="md5:fc16ebd8b0c10d971d3513d564d01e29",
            licence="Apache-2.0",
            commercial_use=True,
            input_side=1024,
            size_bytes=None,
            source="https://github.com/xuebinqin/DIS",
        ),
        CatalogModel(
            name="isnet-anime",
            url=f"{RELEASES}/isnet-anime.onnx",
            checksum="md5:6f184e756bb3bd901c8849220a83e38e",
            licence="Apache-2.0",
            commercial_use=True,
            input_side=1024,
            size_bytes=None,
            source="https://github.com/SkyTNT/anime-segmentation",
        ),
        *(
            CatalogModel(
                name=name,
                url=f"{RELEASES}/{file_name}",
                checksum=checksum,
                licence="MIT",
                commercial_use=True,
                input_side=1024,
                size_bytes=None,
                source="https://github.com/ZhengPeng7/BiRefNet",
            )
            for name, file_name, checksum in (
                ("birefnet-general", "BiRefNet-general-epoch_244.onnx", "md5:7a35a0141cbbc80de11d9c9a28f52697"),
                (
                    "birefnet-general-lite",
                    "BiRefNet-general-bb_swin_v1_tiny-epoch_232.onnx",
                    "md5:4fab47adc4ff364be1713e97b7e66334",
                ),
                ("birefnet-portrait", "BiRefNet-portrait-epoch_150.onnx", "md5:c3a64a6abf20250d090cd055f12a3b67"),
                ("birefnet-dis", "BiRefNet-DIS-epoch_590.onnx", "md5:2d4d44102b446f33a4ebb2e56c051f2b"),
                ("birefnet-hrsod", "BiRefNet-HRSOD_DHU-epoch_115.onnx", "md5:c017ade5de8a50ff0fd74d790d268dda"),
                ("birefnet-cod", "BiRefNet-COD-epoch_125.onnx", "md5:f6d0d21ca89d287f17e7afe9f5fd3b45"),
                (
                    "birefnet-massive",
                    "BiRefNet-massive-TR_DIS5K_TR_TEs-epoch_420.onnx",
                    "md5:33e726a2136a3d59eb0fdf613e31e3e9",
                ),
            )
        ),
        CatalogModel(
            name="bria-rmbg",
            url=f"{RELEASES}/bria-rmbg-2.0.onnx",
            checksum="sha256:5b486f08200f513f460da46dd701db5fbb47d79b4be4b708a19444bcd4e79958",
            # BRIA's RMBG-2.0 licence: free for non-commercial use, a paid agreement otherwise.
            licence="CC-BY-NC-4.0 (non-commercial)",
            commercial_use=False,
            input_side=1024,
            size_bytes=None,
            source="https://huggingface.co/briaai/RMBG-2.0",
        ),
    )
}


def int8_base(name: str) -> str | None:
    """The fp32 model an int8 copy was made from (`u2net-int8` -> `u2net`), else None."""
    return name.removesuffix(INT8_SUFFIX) if name.endswith(INT8_SUFFIX) else None
