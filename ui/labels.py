"""The label manager of the Annotate page: add (a colour-blind-safe palette colour no other label
uses), rename, recolour, describe (what the label means, in words), reorder (the order sets the
timeline's 1-9 keys) and delete (saying what happens to the label's segments, with an Undo)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from otcore import service
from otcore.store import LabelInfo, Store, StoreError
from otcore.store.labels import MAX_DESCRIPTION

__all__ = ["render_label_manager", "DESCRIPTION_HELP"]

#: What a description is for (shown where one is edited).
DESCRIPTION_HELP = (
    "What the label means, in a few words (e.g. *a person runs up and jumps over the bar*). Trained "
    "prompts and proposals from label names encode the description instead of the name. Like the "
    "names, descriptions only carry meaning with real CLIP weights; with the offline encoder they carry none."
)

_UNDO = "labels_undo"  # the last LabelRemoval, for its Undo button
_FLASH = "labels_flash"


def _flash(kind: str, text: str) -> None:
    st.session_state[_FLASH] = (kind, text)
    st.session_state["labels_open"] = True  # the manager stays open while someone works in it


def _add(store: Store, project_id: int) -> None:
    name = str(st.session_state.get("labels_new_name") or "").strip()
    if not name:
        _flash("error", "A label needs a name.")
        return
    if any(lab.name == name for lab in store.list_labels(project_id)):
        _flash("error", f"The project has a label named {name!r} already.")
        return
    color = st.session_state.get("labels_new_color") or None
    lab = store.ensure_label(project_id, name, color)
    st.session_state["labels_new_name"] = ""
    st.session_state.pop("labels_new_color", None)
    _flash("success", f"Label **{lab.name}** added (key {len(store.list_labels(project_id))}).")


def _rename(store: Store, label_id: int) -> None:
    try:
        lab = store.rename_label(label_id, str(st.session_state.get(f"labels_name_{label_id}") or ""))
        _flash("success", f"Renamed to **{lab.name}**; its segments follow.")
    except StoreError as exc:
        _flash("error", str(exc))


def _describe(store: Store, label_id: int, key: str) -> None:
    try:
        lab = service.set_label_description(store, label_id, str(st.session_state.get(key) or ""))
        _flash(
            "success",
            f"Description of **{lab.name}** saved."
            if lab.description
            else f"**{lab.name}** has no description now.",
        )
    except StoreError as exc:
        _flash("error", str(exc))


def _recolor(store: Store, label_id: int) -> None:
    st.session_state["labels_open"] = True
    store.set_label_color(label_id, str(st.session_state.get(f"labels_color_{label_id}")))


def _move(store: Store, project_id: int, label_id: int, delta: int) -> None:
    st.session_state["labels_open"] = True
    ids = [lab.id for lab in store.list_labels(project_id)]
    i = ids.index(label_id)
    j = max(0, min(len(ids) - 1, i + delta))
    ids[i], ids[j] = ids[j], ids[i]
    store.reorder_labels(project_id, ids)


def _delete(store: Store, label_id: int) -> None:
    removal = service.delete_label(store, label_id)
    st.session_state[_UNDO] = removal
    _flash(
        "success",
        f"Label **{removal.label.name}** deleted with its {removal.n_segments} segments "
        f"(on {len(removal.segments)} videos).",
    )


def _undo_delete(store: Store) -> None:
    removal = st.session_state.pop(_UNDO, None)
    if removal is not None:
        lab = service.restore_label(store, removal)
        _flash("success", f"Label **{lab.name}** is back with its {removal.n_segments} segments.")


def _row(store: Store, project_id: int, i: int, lab: LabelInfo, n_labels: int) -> None:
    c = st.columns([0.5, 3, 1.2, 0.6, 0.6, 1.6, 1.6])
    c[0].markdown(f"**{i + 1}**" if i < 9 else "")
    c[1].text_input(
        "Name",
        value=lab.name,
        key=f"labels_name_{lab.id}",
        label_visibility="collapsed",
        on_change=_rename,
        args=(store, lab.id),
    )
    c[2].color_picker(
        "Colour",
        value=lab.color,
        key=f"labels_color_{lab.id}",
        label_visibility="collapsed",
        on_change=_recolor,
        args=(store, lab.id),
    )
    c[3].button(
        "↑", key=f"labels_up_{lab.id}", disabled=i == 0, on_click=_move, args=(store, project_id, lab.id, -1)
    )
    c[4].button(
        "↓",
        key=f"labels_down_{lab.id}",
        disabled=i == n_labels - 1,
        on_click=_move,
        args=(store, project_id, lab.id, 1),
    )
    with c[5].popover("Describe ✎" if lab.description else "Describe", width="stretch"):
        key = f"labels_description_{lab.id}"
        st.text_area(
            f"What **{lab.name}** means",
            value=lab.description,
            key=key,
            max_chars=MAX_DESCRIPTION,
            placeholder="e.g. a person runs up and jumps over the bar",
            on_change=_describe,
            args=(store, lab.id, key),
        )
        st.caption(DESCRIPTION_HELP)
    with c[6].popover("Delete", width="stretch"):
        usage = service.label_usage(store, lab.id)
        parts = ", ".join(f"{n} {src}" for src, n in usage.by_source) or "none"
        st.markdown(
            f"Deleting **{lab.name}** also deletes its **{usage.n_segments} segments** on "
            f"{usage.n_videos} videos ({parts}). You can undo it right after, and each video's "
            "Undo brings its segments back too."
        )
        st.button(
            f"Delete {lab.name} and its {usage.n_segments} segments",
            key=f"labels_delete_{lab.id}",
            type="primary",
            on_click=_delete,
            args=(store, lab.id),
        )


def render_label_manager(store: Store, project_id: int) -> list[LabelInfo]:
    """Draw the manager; returns the project's labels in their order."""
    labels = store.list_labels(project_id)
    with st.expander("Labels", expanded=not labels or bool(st.session_state.get("labels_open"))):
        c = st.columns([3, 1, 1])
        c[0].text_input("New label", key="labels_new_name", placeholder="e.g. jump")
        if "labels_new_color" not in st.session_state:
            st.session_state["labels_new_color"] = store.next_label_color(project_id)
        c[1].color_picker("Colour", key="labels_new_color")
        c[2].markdown("&nbsp;")
        c[2].button("Add label", key="labels_add", on_click=_add, args=(store, project_id))
        if flash := st.session_state.pop(_FLASH, None):
            (st.success if flash[0] == "success" else st.error)(flash[1])
        if st.session_state.get(_UNDO) is not None:
            removal = st.session_state[_UNDO]
            st.button(
                f"↶ Undo deleting {removal.label.name} ({removal.n_segments} segments)",
                key="labels_undo_delete",
                on_click=_undo_delete,
                args=(store,),
            )
        labels = store.list_labels(project_id)
        if labels:
            st.caption("Keys 1–9 choose the active label in the timeline, in this order (↑ ↓ to reorder).")
            for i, lab in enumerate(labels):
                _row(store, project_id, i, lab, len(labels))
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "key": str(i + 1) if i < 9 else "",
                            "label": lab.name,
                            "colour": lab.color,
                            "description": lab.description,
                        }
                        for i, lab in enumerate(labels)
                    ]
                ),
                hide_index=True,
                width="stretch",
                key="labels_table",
            )
    return labels
