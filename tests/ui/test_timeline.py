"""The component's static side: frame grid payload, offline frontend, shortcut table = key map."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ui.timeline import FRONTEND_DIR, SHORTCUTS, frame_grid_payload


def test_uniform_frame_times_are_compressed_and_irregular_ones_kept():
    t = np.arange(500) / 29.97
    p = frame_grid_payload(t)
    assert p == {"uniform": {"t0": 0.0, "step": pytest.approx(1 / 29.97), "n": 500}}
    # float32-rounded timestamps of a constant-rate 10-minute file still count as uniform
    f32 = (np.arange(14315) / 24.0).astype(np.float32)
    assert "uniform" in frame_grid_payload(f32)
    vfr = np.concatenate([[0.0], np.cumsum(np.tile([0.04, 0.06], 10))])
    q = frame_grid_payload(vfr)
    assert isinstance(q, list) and len(q) == len(vfr)
    assert np.allclose(q, vfr, atol=1e-6)


def test_frontend_is_self_contained():
    files = {p.name: p.read_text() for p in FRONTEND_DIR.iterdir()}
    assert {"index.html", "timeline.js", "timeline.css"} <= set(files)
    html = files["index.html"]
    # only local assets: no CDN, no absolute URLs in src/href
    for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert ref.startswith("./"), ref
    for name, text in files.items():
        assert "cdn" not in text.lower(), name
        assert "https://" not in text, name
    js = files["timeline.js"]
    for msg in (
        "streamlit:componentReady",
        "streamlit:render",
        "streamlit:setComponentValue",
        "streamlit:setFrameHeight",
    ):
        assert msg in js


def _keys_in_js(js: str) -> set[str]:
    return set(re.findall(r'k === "([^"]+)"', js))


def test_every_listed_shortcut_is_handled():
    js = (FRONTEND_DIR / "timeline.js").read_text()
    handled = _keys_in_js(js)
    names = {
        "Space": " ",
        "←": "ArrowLeft",
        "→": "ArrowRight",
        "Home": "Home",
        "End": "End",
        "Esc": "Escape",
        "Delete": "Delete",
        "Backspace": "Backspace",
    }
    listed = " ".join(k for k, _ in SHORTCUTS if k != "mouse")
    tokens = re.split(r"\s*(?:/|,| or |…)\s*|\s+", listed)
    for tok in filter(None, tokens):
        tok = tok.replace("Shift+", "").replace("Ctrl+", "")
        if tok in ("1", "9"):
            assert "/^[1-9]$/" in js
            continue
        key = names.get(tok, tok)
        if key in ("Z", "Y"):
            key = key.lower()
        assert key in handled, f"shortcut {tok!r} listed on the page but not handled in timeline.js"
    # and the other way round: every handled key is listed
    listed_keys = {
        names.get(t.replace("Shift+", "").replace("Ctrl+", ""), t.replace("Shift+", "").replace("Ctrl+", ""))
        for t in filter(None, tokens)
    }
    listed_keys |= {"z", "y", "Z", "Y", "_", "="}  # ctrl combos and the unshifted twins of + / -
    if any(k.startswith(", ") for k, _ in SHORTCUTS):
        listed_keys.add(",")  # "," is also the separator of the table's key column
    assert handled <= listed_keys, handled - listed_keys
