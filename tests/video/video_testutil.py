"""Helpers shared by the video tests (real clip names, synthetic video writer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

REAL_VIDEOS = [
    "bigbuckbunny.mp4",
    "demo_demo.mp4",
    "example.avi",
    "flipping_a_pancake.mkv",
    "tests_data_test.mp4",
    "trailer_bbb.mp4",
    "v_GGSY1Qvo990.mp4",
    "v_ZNVhz7ctTq0.mp4",
]
SMALL_VIDEO = "v_ZNVhz7ctTq0.mp4"  # 14 s, 480x360, H.264, 30 fps


def write_video(
    path: Path,
    codec: str = "libx264",
    n: int = 24,
    w: int = 64,
    h: int = 48,
    rate: int = 12,
    options: dict[str, str] | None = None,
) -> Path:
    """Write a small synthetic video whose frame i has red channel 10*i (to check sampling)."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        if options:
            s.options = options
        for i in range(n):
            img = np.zeros((h, w, 3), np.uint8)
            img[:, :, 0] = min(255, i * 10)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for pkt in s.encode(frame):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path
