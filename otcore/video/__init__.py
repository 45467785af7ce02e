"""Videos in, features out: decoding (decord, PyAV fallback), ingest of uploads,
CLIP encoders (open_clip) and the per-video feature cache.

Submodules: :mod:`otcore.video.decode`, :mod:`otcore.video.ingest`,
:mod:`otcore.video.encoders`, :mod:`otcore.video.features`, :mod:`otcore.video.errors`,
:mod:`otcore.video.cli`. Import them directly; this package imports nothing heavy.
"""
