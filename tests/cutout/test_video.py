"""Short videos: every frame cut out, returned as a zip of PNG frames plus a WebM with alpha."""

import hashlib
import io
import subprocess
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import numpy as np
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from removal.cutout import pipeline
from removal.models import Item
from removal.ops.worker import run_ready_jobs
from tests.conftest import photo_bytes


def make_video(suffix: str, codec: str, frames: int = 5, size: tuple[int, int] = (160, 120), fps: int = 10) -> bytes:
    photo = Image.open(io.BytesIO(photo_bytes("astronaut.png", size=size))).convert("RGB")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"clip{suffix}"
        writer = imageio_ffmpeg.write_frames(str(path), size, fps=fps, codec=codec, macro_block_size=1)
        writer.send(None)
        for index in range(frames):
            writer.send(photo.rotate(index * 5).tobytes())
        writer.close()
        return path.read_bytes()


@pytest.fixture(scope="module")
def session() -> Any:
    return pipeline.thread_session("u2netp", settings.U2NET_HOME)


@pytest.mark.parametrize(("suffix", "codec"), [(".mp4", "libx264"), (".webm", "libvpx-vp9")])
def test_video_becomes_png_frames_and_a_webm_with_alpha(session: Any, suffix: str, codec: str) -> None:
    progress: list[tuple[int, int]] = []
    cutout = pipeline.cut_out(
        make_video(suffix, codec, frames=4, fps=4),  # a 1-second clip; each frame is a model run (half a second)
        session=session,
        max_pixels=50_000_000,
        compress_level=1,
        max_frames=100,
        on_frame=lambda done, total: progress.append((done, total)),
    )
    assert (cutout.mime_type, cutout.extension, cutout.frames) == ("application/zip", "zip", 4)
    assert progress == [(done, 4) for done in range(1, 5)]  # out of the count the container states
    assert cutout.data == b"" and cutout.file is not None  # a video's zip is in a temporary file
    with cutout.body() as body, zipfile.ZipFile(body) as archive:
        names = archive.namelist()
        assert [name for name in names if name.startswith("frames/")] == [f"frames/{n:05d}.png" for n in range(1, 5)]
        with Image.open(archive.open("frames/00001.png")) as frame:
            alpha = np.asarray(frame.getchannel("A"))
            assert frame.size == (160, 120) and alpha[:10, :10].max() < 10 and alpha[50:70, 70:90].mean() > 150
        webm = archive.read("cutout.webm")
    with tempfile.NamedTemporaryFile(suffix=".webm") as stored:
        stored.write(webm)
        stored.flush()
        described = subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", stored.name], capture_output=True, text=True
        ).stderr
    assert "vp9" in described and "alpha_mode" in described.lower()


def test_video_limits(session: Any) -> None:
    long_clip = make_video(".mp4", "libx264", frames=30, fps=10)  # 3 s
    with pytest.raises(pipeline.ImageRejected, match=r"the video is 3\.0 s long; the limit is 2 s"):
        pipeline.inspect_upload(io.BytesIO(long_clip), max_pixels=50_000_000, max_frames=100, max_video_seconds=2)
    with pytest.raises(pipeline.ImageRejected, match="about 30 frames; the limit is 10"):
        pipeline.inspect_upload(io.BytesIO(long_clip), max_pixels=50_000_000, max_frames=10, max_video_seconds=60)
    with pytest.raises(pipeline.ImageRejected, match="not a video we can read"):
        pipeline.inspect_upload(
            io.BytesIO(b"\x1a\x45\xdf\xa3 broken"), max_pixels=50_000_000, max_frames=10, max_video_seconds=60
        )


def test_a_video_that_states_no_length_is_measured_before_it_is_taken() -> None:
    """A WebM written to a pipe (as a browser's MediaRecorder writes one) states no length: it passed any
    MAX_VIDEO_SECONDS, and one of more than MAX_ANIMATION_FRAMES failed only after its worker had cut out that many
    frames (a 20 s clip: 37 s of work, then failed). Its packets are counted at upload now (fifth probe)."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    source = ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=30:duration=3", "-c:v", "libvpx", "-deadline", "realtime"]
    clip = subprocess.run([ffmpeg, "-v", "error", *source, "-f", "webm", "pipe:1"], capture_output=True, check=True)
    with pytest.raises(pipeline.ImageRejected, match=r"the video is 3\.0 s long; the limit is 2 s"):
        pipeline.inspect_upload(io.BytesIO(clip.stdout), max_pixels=50_000_000, max_frames=300, max_video_seconds=2)
    with pytest.raises(pipeline.ImageRejected, match="about 90 frames; the limit is 60"):
        pipeline.inspect_upload(io.BytesIO(clip.stdout), max_pixels=50_000_000, max_frames=60, max_video_seconds=10)
    info = pipeline.inspect_upload(io.BytesIO(clip.stdout), max_pixels=50_000_000, max_frames=300, max_video_seconds=10)
    assert info.video and (info.width, info.height) == (64, 48)


@pytest.mark.parametrize("container", [["-c:v", "libvpx", "-f", "webm"], ["-movflags", "+faststart", "-f", "mp4"]])
def test_a_video_file_cut_short_is_refused_at_upload(container: list[str]) -> None:
    """A file broken off (an interrupted upload or copy) whose header states its whole length was cut out as far
    as it went and called done: 41 frames of a 100-frame WebM; of an MP4 with its index first (as phones and
    editors write them for streaming), 37."""
    with tempfile.NamedTemporaryFile() as clip:
        source = ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=4"]
        subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *source, *container, clip.name], check=True
        )
        whole = Path(clip.name).read_bytes()
    info = pipeline.inspect_upload(io.BytesIO(whole), max_pixels=50_000_000, max_frames=300, max_video_seconds=10)
    assert info.video
    with pytest.raises(
        pipeline.ImageRejected, match=r"the video file is cut short: its frames stop at 1\.\d s of 4\.0 s"
    ):
        pipeline.inspect_upload(
            io.BytesIO(whole[: len(whole) // 2]), max_pixels=50_000_000, max_frames=300, max_video_seconds=10
        )


@pytest.mark.django_db
def test_video_through_the_batch_api(api: Any) -> None:
    clip = SimpleUploadedFile("clip.mp4", make_video(".mp4", "libx264", frames=3), content_type="video/mp4")
    reply = api.post("/api/v1/batches", {"files": [clip]})
    assert reply.status_code == 201, reply.content
    assert reply.json()["items"][0]["width"] == 160
    run_ready_jobs()
    item = Item.objects.get()
    assert item.status == "done", item.error
    assert item.result.name.endswith(".zip")
    stored = item.result.read()  # saved from the temporary file whole, its size and digest recorded
    assert zipfile.ZipFile(io.BytesIO(stored)).namelist()[-1] == "cutout.webm"
    assert (item.result_bytes, item.result_sha256) == (len(stored), hashlib.sha256(stored).hexdigest())
    body = b"".join(api.get(reply.json()["zip"]))
    assert zipfile.ZipFile(io.BytesIO(body)).namelist() == ["clip.zip", "manifest.json"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"bg_color": "white"}, "bg_color"),
        ({"crop": "true"}, "crop"),
        ({"channels": "alpha", "add_shadow": "true"}, "channels, add_shadow"),
    ],
)
def test_options_that_cannot_apply_to_a_video_are_refused_by_name(api: Any, params: dict[str, str], named: str) -> None:
    clip = SimpleUploadedFile("clip.mp4", make_video(".mp4", "libx264", frames=3), content_type="video/mp4")
    reply = api.post("/api/v1/batches", {"files": [clip], **params})
    assert reply.status_code == 400
    assert reply.json()["error"].startswith(f"clip.mp4: {named}: cannot apply to a video ")


@pytest.mark.django_db
def test_a_video_takes_the_options_that_apply_to_every_frame(api: Any) -> None:
    clip = SimpleUploadedFile("clip.mp4", make_video(".mp4", "libx264", frames=3), content_type="video/mp4")
    reply = api.post("/api/v1/batches", {"files": [clip], "size": "80x60", "quality": "best", "format": "webp"})
    assert reply.status_code == 201, reply.content
