"""Review & Export: proposals by uncertainty (lowest confidence first) with accept/reject/adjust,
the video to review next, the strongest unknown-action spans (a jump to each, "New label from
span"), export to every format and import with a report of what was skipped."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from otcore import service
from otcore.formats import FORMATS
from otcore.review import proposals_by_uncertainty, rank_videos, visible_proposals
from otcore.store import EditLog
from ui.auth import current_user
from ui.common import get_store, require_project
from ui.nav import open_annotate
from ui.review import EXPORT_FORMATS, export_bundle, flag_rows, import_upload, report_rows
from ui.unknown import render_unknown_review

st.title("Review & Export")

store = get_store()
project = require_project(store)
project_id = project.id
log = EditLog(store, user=current_user())
videos = {v.id: v for v in store.list_videos(project_id)}
names = {vid: v.filename for vid, v in videos.items()}
segments = store.project_segments(project_id)

review_tab, unknown_tab, export_tab, import_tab = st.tabs(
    ["Review proposals", "Unknown actions", "Export", "Import"]
)

# ------------------------------------------------------------------------------------ review
_BULK = "review_bulk_done"  # video ids whose newest edit is the last bulk review (one step each)


def _pick_step(by_seg: list[int], delta: int) -> None:
    cur = st.session_state.get("review_pick")
    i = by_seg.index(cur) if cur in by_seg else 0
    st.session_state["review_pick"] = by_seg[max(0, min(len(by_seg) - 1, i + delta))]


def _decide(seg_id: int, accept: bool, order: list[int]) -> None:
    try:
        if accept:
            log.accept(seg_id)
        else:
            log.reject(seg_id)
    except (ValueError, LookupError) as e:
        st.session_state["review_msg"] = str(e)
        return
    st.session_state["review_msg"] = f"{'accepted' if accept else 'rejected'} #{seg_id}"
    rest = [i for i in order if i != seg_id]
    if rest:  # go on with the next proposal of the list
        i = order.index(seg_id)
        st.session_state["review_pick"] = rest[min(i, len(rest) - 1)]


def _bulk_ids(shown: list, accept: bool) -> dict[int, list[int]]:
    """The listed proposals a bulk accept (score >= the accept threshold) or reject (score under
    the reject threshold, or none) applies to, by video; thresholds read when the button is pressed."""
    hi = float(st.session_state.get("review_bulk_hi", 0.9))
    lo = float(st.session_state.get("review_bulk_lo", 0.1))
    out: dict[int, list[int]] = {}
    for x in shown:
        hit = (x.score is not None and x.score >= hi) if accept else (x.score is None or x.score < lo)
        if hit:
            out.setdefault(x.video_id, []).append(x.seg_id)
    return out


def _bulk(accept: bool, shown: list) -> None:
    ids_by_video = _bulk_ids(shown, accept)
    done, vids = 0, []
    for vid, ids in ids_by_video.items():
        if not ids:
            continue
        log.review_many(vid, accept=ids if accept else (), reject=() if accept else ids)
        done += len(ids)
        vids.append(vid)
    st.session_state[_BULK] = (("accepted" if accept else "rejected"), done, vids)
    st.session_state["review_msg"] = (
        f"{'accepted' if accept else 'rejected'} {done} proposals on {len(vids)} videos (one undo step)"
    )


def _undo_bulk() -> None:
    what, n, vids = st.session_state.pop(_BULK, ("", 0, []))
    for vid in vids:
        log.undo(vid)
    st.session_state["review_msg"] = f"undid the bulk review ({what} {n} proposals)"


with review_tab:
    visible = visible_proposals(segments)
    ranked = rank_videos(visible, names)
    items = proposals_by_uncertainty(visible, names)
    n_hidden = sum(1 for x in segments if x.source == "predicted") - len(items)
    if not items:
        st.info(
            "No pending proposals. Train a model and predict on the **Train** page; accepted and "
            "rejected proposals leave this list."
        )
    else:
        nxt = ranked[0]
        c = st.columns([4, 1])
        c[0].success(
            f"**Review next: {nxt.video_name}** — {nxt.n_proposals} pending proposals, mean uncertainty "
            f"{nxt.mean_uncertainty:.2f} (lowest confidence {nxt.min_confidence:.2f}), "
            f"{nxt.n_owned} segments already annotated."
        )
        if c[1].button("Open in Annotate", key="review_open_next"):
            open_annotate(project_id, nxt.video_id)
        with st.expander("All videos by uncertainty (mean of 1 − confidence over pending proposals)"):
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "video": r.video_name,
                            "pending": r.n_proposals,
                            "mean uncertainty": round(r.mean_uncertainty, 3),
                            "lowest confidence": round(r.min_confidence, 3),
                            "annotated": r.n_owned,
                        }
                        for r in ranked
                    ]
                ),
                hide_index=True,
                width="stretch",
            )

        only = st.selectbox(
            "Videos",
            options=[None, *sorted({it.video_id for it in items})],
            format_func=lambda v: "all videos" if v is None else names.get(v, str(v)),
            key="review_video_filter",
        )
        shown = [it for it in items if only is None or it.video_id == only]
        st.caption(
            f"{len(shown)} proposals, lowest confidence first"
            + (
                f"; {n_hidden} more hidden (over time you marked, or overlapping a better one of their label)."
                if n_hidden
                else "."
            )
        )
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "id": it.seg_id,
                        "video": it.video_name,
                        "label": it.label,
                        "start (s)": round(it.start, 3),
                        "end (s)": round(it.end, 3),
                        "score": it.score,
                        "uncertainty": round(it.uncertainty, 3),
                    }
                    for it in shown[:500]
                ]
            ),
            hide_index=True,
            width="stretch",
            height=min(400, 38 + 35 * min(len(shown), 10)),
        )

        by_seg = {it.seg_id: it for it in shown}
        order = list(by_seg)
        if st.session_state.get("review_pick") not in by_seg:
            st.session_state["review_pick"] = shown[0].seg_id
        pick = st.selectbox(
            "Proposal",
            options=order,
            key="review_pick",
            format_func=lambda i: (
                f"#{i} {by_seg[i].video_name} · {by_seg[i].label} "
                f"[{by_seg[i].start:.3f}, {by_seg[i].end:.3f}) · score "
                + ("none" if by_seg[i].score is None else f"{by_seg[i].score:.3f}")
            ),
        )
        it = by_seg[pick]
        video = videos[it.video_id]
        strip = service.span_strip(store, video, it.start, it.end)
        if strip is not None:
            st.image(
                strip.jpeg(),
                caption=f"{it.label} [{it.start:.3f}, {it.end:.3f}) in {video.filename}: "
                f"{len(strip.times)} frames across the span",
            )
        kc = st.columns(5)
        i_pick = order.index(pick)
        kc[0].button(
            "← Previous (k)",
            key="review_prev",
            shortcut="k",
            disabled=i_pick == 0,
            on_click=_pick_step,
            args=(order, -1),
        )
        kc[1].button(
            "Next (j) →",
            key="review_next",
            shortcut="j",
            disabled=i_pick == len(order) - 1,
            on_click=_pick_step,
            args=(order, 1),
        )
        kc[2].button(
            "✓ Accept (a)",
            key="review_accept",
            type="primary",
            shortcut="a",
            on_click=_decide,
            args=(pick, True, order),
        )
        kc[3].button(
            "✗ Reject (x)", key="review_reject", shortcut="x", on_click=_decide, args=(pick, False, order)
        )
        if kc[4].button("Open in Annotate", key="review_open_pick"):
            open_annotate(project_id, it.video_id, it.start)
        st.caption("Keys: j / k next / previous proposal, a accept, x reject (click the page first).")
        step = 1.0 / video.fps if video.fps else 0.01
        a, b, c2, d = st.columns(4)
        new_start = a.number_input(
            "Start (s)",
            value=float(it.start),
            min_value=0.0,
            step=step,
            format="%.3f",
            key=f"review_start_{pick}",
        )
        new_end = b.number_input(
            "End (s)", value=float(it.end), min_value=0.0, step=step, format="%.3f", key=f"review_end_{pick}"
        )
        label_names = [lab.name for lab in store.list_labels(project_id)]
        new_label = c2.selectbox(
            "Label",
            options=label_names,
            index=label_names.index(it.label) if it.label in label_names else 0,
            key=f"review_label_{pick}",
        )
        d.caption(f"{video.filename} · frame grid {video.fps or '?'} fps; times snap to real frames.")
        bc = st.columns(2)
        try:
            if bc[0].button("Save adjustment (accepts it as corrected)", key="review_adjust"):
                log.update_segment(
                    pick, start=new_start, end=new_end, label=new_label if new_label != it.label else None
                )
                st.session_state["review_msg"] = f"adjusted #{pick}"
                st.rerun()
            if bc[1].button("↶ Undo last edit of this video", key="review_undo"):
                st.session_state["review_msg"] = "undone" if log.undo(it.video_id) else "nothing to undo"
                st.rerun()
        except (ValueError, LookupError) as e:
            st.error(str(e))

        with st.expander("Bulk: accept the confident, reject the hopeless (of the proposals listed above)"):
            qc = st.columns([2, 1, 2, 1])
            qc[0].number_input("Accept all with score ≥", 0.0, 1.0, 0.9, 0.05, key="review_bulk_hi")
            qc[2].number_input("Reject all with score <", 0.0, 1.0, 0.1, 0.05, key="review_bulk_lo")
            n_acc = sum(map(len, _bulk_ids(shown, True).values()))
            n_rej = sum(map(len, _bulk_ids(shown, False).values()))
            qc[1].button("Accept", key="review_bulk_accept", on_click=_bulk, args=(True, shown))
            qc[3].button("Reject", key="review_bulk_reject", on_click=_bulk, args=(False, shown))
            st.caption(
                f"Accept: {n_acc} proposals, reject: {n_rej}. Each bulk accept or reject is one undo "
                "step (one edit per video)."
            )
    if st.session_state.get(_BULK):
        what, n, vids = st.session_state[_BULK]
        st.button(
            f"↶ Undo the bulk review ({what} {n} proposals)", key="review_bulk_undo", on_click=_undo_bulk
        )
    if msg := st.session_state.pop("review_msg", None):
        st.toast(msg)

# ------------------------------------------------------------------------------------ unknown actions
with unknown_tab:
    render_unknown_review(store, project_id, user=current_user())

# ------------------------------------------------------------------------------------ export
with export_tab:
    fmt = st.selectbox(
        "Format",
        options=list(EXPORT_FORMATS),
        key="export_format",
        index=list(EXPORT_FORMATS).index("csv"),
        format_func=lambda f: f"{f} — {EXPORT_FORMATS[f][1]}",
    )
    sources = st.multiselect(
        "Segments to export",
        options=["manual", "corrected", "predicted"],
        default=["manual", "corrected"],
        key="export_sources",
        help="manual: drawn by a person; corrected: accepted or edited proposals; "
        "predicted: proposals not reviewed yet.",
    )
    fps = None
    if fmt == "frames":
        rate = st.radio(
            "Frame rate of the per-frame files",
            options=["each video's real fps", "a chosen rate"],
            horizontal=True,
            key="export_rate",
        )
        if rate == "a chosen rate":
            fps = st.number_input(
                "Frames per second",
                min_value=0.1,
                value=15.0,
                step=1.0,
                key="export_fps",
                help="Breakfast features use 15 fps, 50Salads 30 fps. Line i is the label at t = i / fps.",
            )
    # what the prepared file was made from: a download is offered only while it still matches
    wanted = (project_id, fmt, tuple(sources), fps, len(segments), max((x.id for x in segments), default=0))
    if st.button("Prepare export", key="export_prepare", disabled=not sources):
        try:
            st.session_state["export_bundle"] = (
                wanted,
                export_bundle(store, project_id, fmt, sources=sources, fps=fps),
            )
        except Exception as e:  # noqa: BLE001 - shown to the person (e.g. a frame format without fps)
            st.session_state.pop("export_bundle", None)
            st.error(f"Export failed: {e}")
    made = st.session_state.get("export_bundle")
    bundle = made[1] if made is not None and made[0] == wanted else None
    if made is not None and bundle is None:
        st.caption("The project, format or segments changed since the last export: prepare it again.")
    if bundle is not None:
        st.download_button(
            f"Download {bundle.filename}",
            data=bundle.data,
            file_name=bundle.filename,
            mime=bundle.mime,
            key="export_download",
        )
        st.caption(
            f"{len(bundle.files)} file(s): "
            + ", ".join(bundle.files[:10])
            + (" …" if len(bundle.files) > 10 else "")
        )

# ------------------------------------------------------------------------------------ import
with import_tab:
    st.caption(
        "One file (JSON, CSV, txt, .eaf, .vtt) or a .zip of a folder (THUMOS per-class txt, "
        "per-frame label files, several .eaf/.vtt)."
    )
    up = st.file_uploader(
        "Annotation file", key="import_file", type=["json", "csv", "txt", "eaf", "vtt", "zip"]
    )
    ic = st.columns(3)
    ifmt = ic[0].selectbox("Format", options=["auto", *FORMATS], key="import_format")
    ifps = ic[1].number_input(
        "fps of frame-based files (0: from the file or the video)", min_value=0.0, value=0.0, key="import_fps"
    )
    isource = ic[2].selectbox(
        "Import as",
        options=["manual", "predicted"],
        key="import_source",
        help="predicted: the segments become proposals to review (scores kept).",
    )
    strict = st.checkbox("Skip labels that are not in the project", value=True, key="import_strict")
    create = st.checkbox(
        "Create placeholder videos for names not in the project", value=False, key="import_create"
    )
    if st.button("Import", key="import_run", disabled=up is None) and up is not None:
        bar = st.progress(0.0, text="Importing…")
        try:
            st.session_state["import_report"] = import_upload(
                store,
                project_id,
                up.name,
                up.getvalue(),
                fmt=ifmt,
                fps=ifps or None,
                create_videos=create,
                strict_labels=strict,
                source=isource,
                progress=lambda f, m: bar.progress(min(1.0, f), text=m),
            )
        except Exception as e:  # noqa: BLE001 - a file we cannot read is reported, not raised
            st.session_state.pop("import_report", None)
            st.error(f"Import failed, nothing was stored: {e}")
        bar.empty()
    report = st.session_state.get("import_report")
    if report is not None:
        (st.success if not report.skipped else st.warning)(
            f"Imported {report.imported} segments in {report.videos} videos"
            + (f" ({report.videos_created} new placeholder videos)" if report.videos_created else "")
            + f"; skipped {sum(1 for x in report.skipped if x.start is not None)} segments"
            + (
                f" and {n_vid} videos without segments"
                if (n_vid := sum(1 for x in report.skipped if x.start is None))
                else ""
            )
            + (f"; clipped {report.clipped} to the video bounds" if report.clipped else "")
            + "."
        )
        if report.skipped:
            counts = report.counts()
            st.markdown("\n".join(f"- **{reason}**: {n}" for reason, n in sorted(counts.items())))
            st.dataframe(pd.DataFrame(report_rows(report)), hide_index=True, width="stretch")
        if report.flagged:
            st.info(
                f"Kept but flagged: {len(report.flagged)} ("
                + ", ".join(f"{reason}: {n}" for reason, n in sorted(report.flag_counts().items()))
                + ")."
            )
            st.dataframe(pd.DataFrame(flag_rows(report)), hide_index=True, width="stretch")
