"""Train: learn prompts from the marked segments and propose segments on every video of the project."""

import pandas as pd
import streamlit as st

from otcore import service
from otcore.service import TrainRequest, TrainResult
from otcore.store import StoreError
from otcore.store.edits import EditLog
from otcore.store.labels import MAX_DESCRIPTION
from ui.auth import current_user
from ui.common import get_settings, get_store, require_project

METHODS = {
    "plot-tal": "PLOT-TAL (N prompts per class aligned to frames by optimal transport)",
    "coop": "CoOp (one prompt per class, cosine, no OT)",
    "prototype": "Prototype (class means of the marked frames, cosine)",
    "sot-glp": "PLOT-TAL + SOT-GLP scoring (global + local prompts, balanced OT)",
}
KIND = "train_fewshot"

settings = get_settings()
store = get_store()

st.title("Train")
project = require_project(store)
project_id = project.id

videos = store.list_videos(project_id)
log = EditLog(store, user=current_user())
marks = {v.id: log.segments(v.id, sources=("manual", "corrected")) for v in videos}
counts: dict[str, int] = {}
for segs in marks.values():
    for s in segs:
        counts[s.label] = counts.get(s.label, 0) + 1
labels_all = sorted({lab.name for lab in store.list_labels(project_id)} | set(counts))

if not counts:
    st.info(
        "No marked segments yet: mark a few examples of each action on the Annotate page, then train here."
    )

labels = st.multiselect(
    "Labels to learn",
    labels_all,
    default=sorted(counts),
    format_func=lambda n: f"{n} ({counts.get(n, 0)} marks)",
    key="train_labels",
)
with_marks = [v for v in videos if any(s.label in labels for s in marks[v.id])]
names = {v.id: v.filename for v in videos}
video_ids = st.multiselect(
    "Training videos (videos holding marks of these labels)",
    [v.id for v in with_marks],
    default=[v.id for v in with_marks],
    format_func=lambda i: names.get(i, str(i)),
    key="train_videos",
)
method = st.radio("Method", list(METHODS), format_func=METHODS.get, key="train_method")
with st.expander("Settings"):
    c1, c2, c3, c4 = st.columns(4)
    epochs = c1.number_input("Epochs", 5, 500, 100, step=5, key="train_epochs")
    n_prompts = c2.number_input("Prompts per class (N)", 1, 16, 4, key="train_n_prompts")
    levels = c3.number_input("Pyramid levels", 1, 6, 4, key="train_levels")
    eps = c4.number_input("OT ε", 0.01, 1.0, 0.1, step=0.01, format="%.2f", key="train_eps")
    st.caption(
        "Unmarked time in the training videos counts as background: mark every instance of a chosen "
        "label in the videos you train on. On finish, proposals are written to every video of the project "
        "(your manual segments are never changed)."
    )

active = [j for j in service.list_jobs(store, project_id=project_id, kind=KIND) if j.active]
ready = bool(labels) and bool(video_ids) and not active
if st.button("Train", type="primary", disabled=not ready, key="train_submit"):
    request = TrainRequest(
        project_id=project_id,
        labels=tuple(labels),
        video_ids=tuple(int(i) for i in video_ids),
        method=str(method),
        epochs=int(epochs),
        n_prompts=int(n_prompts),
        levels=int(levels),
        eps=float(eps),
    )
    job_id = service.submit_training(store, request, project_id=project_id)
    st.session_state["train_flash"] = f"Training job {job_id} queued."
    st.rerun()
if flash := st.session_state.pop("train_flash", None):
    st.success(flash)


# ---- live state: the job panel and History poll the job table; when a job starts or ends the
# whole page reruns when a job ends, so the Train button (and everything else a job changes)
# follows at once (a start comes from this page's own button, which reruns it already).
_ACTIVE_KEY = "train_active_jobs"


@st.fragment(run_every=1.0)
def job_panel() -> None:
    """The running/last training job (progress, epoch, loss, cancel) and the History table."""
    history = service.list_jobs(store, project_id=project_id, kind=KIND, limit=50)
    now_active = sorted(j.id for j in history if j.active)
    before = st.session_state.get(_ACTIVE_KEY)
    st.session_state[_ACTIVE_KEY] = now_active
    if before is not None and set(before) - set(now_active):
        st.rerun(scope="app")  # a job ended: redraw the Train button and the rest of the page
    if history:
        job = history[0]
        st.subheader(f"Job {job.id}: {job.status}")
        st.progress(float(job.progress), text=job.message or job.status)
        if job.active:
            if st.button("Cancel", key="train_cancel"):
                service.cancel_job(store, job.id)
                st.rerun(scope="fragment")
        elif job.status == "done" and (res := service.job_result(job, TrainResult)) is not None:
            preds = res.predictions or {}
            n_pred = sum(p.n_segments for p in preds.values())
            st.success(
                f"Trained {res.method} on {res.n_segments} marks of {len(res.labels)} "
                f"labels in {res.train_seconds} s; {n_pred} proposals on {len(preds)} videos."
                + (
                    f" The prompts read the descriptions of {', '.join(res.described)}."
                    if res.described
                    else ""
                )
            )
            if res.history:
                st.line_chart(pd.DataFrame(list(res.history)).set_index("epoch")[["loss"]], height=180)
        elif job.status == "failed":
            st.error(job.error or job.message)

    st.subheader("History")
    if history:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "job": j.id,
                        "status": j.status,
                        "method": (req := service.job_request(j, TrainRequest)).method,
                        "labels": ", ".join(req.labels or ()),
                        "loss": r.final_loss if (r := service.job_result(j, TrainResult)) else None,
                        "created": j.created_at,
                        "message": j.message,
                    }
                    for j in history
                ]
            ),
            hide_index=True,
            key="train_history",
        )
    else:
        st.caption("No training yet.")

    # prediction runs: `otstudio predict` (here or on a Ray cluster) and the worker's prediction jobs
    if predicting := service.list_jobs(store, project_id=project_id, kind="predict_fewshot", limit=1):
        pj = predicting[0]
        st.caption(f"Prediction job {pj.id}: {pj.status} — {pj.message or ''}")
        if pj.active:
            st.progress(float(pj.progress), text=pj.message or pj.status)
            if st.button("Cancel prediction", key="predict_cancel"):
                service.cancel_job(store, pj.id)  # the run stops between videos; the panel polls


job_panel()
# ---- end of the live job state block


# ---------------------------------------------------------------- text tower and zero-shot proposals
# (one block: which CLIP trains the prompts, and proposals from label names before any mark)

st.subheader("Text tower and proposals from label names")
tower = service.text_tower_status(store, settings, project_id)
(st.info if tower.names_meaningful else st.warning)(tower.message, icon=None)


def _describe(label_id: int, key: str) -> None:
    try:
        lab = service.set_label_description(store, label_id, str(st.session_state.get(key) or ""))
        st.session_state["train_description_flash"] = ("success", f"Description of **{lab.name}** saved.")
    except StoreError as exc:
        st.session_state["train_description_flash"] = ("error", str(exc))


project_labels = store.list_labels(project_id)
n_described = sum(1 for lab in project_labels if lab.description)
with st.expander(f"Label descriptions ({n_described} of {len(project_labels)} labels described)"):
    st.markdown(
        "The text tower encodes a label's description instead of its name when it has one: in the "
        "prompts that training starts from and in the proposals from label names. **Descriptions, like "
        "label names, only carry meaning with real CLIP weights**: with the offline encoder (the tiny "
        "text tower with random weights) they carry none, and training learns from the marks alone."
    )
    if not tower.names_meaningful:
        st.caption(
            "These features do not come from a pretrained CLIP, so descriptions change nothing here yet."
        )
    if desc_flash := st.session_state.pop("train_description_flash", None):
        (st.success if desc_flash[0] == "success" else st.error)(desc_flash[1])
    for lab in project_labels:
        d_key = f"train_description_{lab.id}"
        st.text_area(
            lab.name,
            value=lab.description,
            key=d_key,
            max_chars=MAX_DESCRIPTION,
            height=68,
            placeholder=f"what {lab.name} looks like, e.g. a person runs up and jumps over the bar",
            on_change=_describe,
            args=(lab.id, d_key),
        )

ZS_KIND = "propose_zeroshot"
zs_active = [j for j in service.list_jobs(store, project_id=project_id, kind=ZS_KIND) if j.active]
zs_labels = st.multiselect("Labels to propose", labels_all, default=labels_all, key="zeroshot_labels")
if not tower.names_meaningful:
    st.caption(
        "Propose from label names needs CLIP weights: the text of label names only means something to a "
        "pretrained CLIP text tower, and these features do not come from one."
    )
if st.button(
    "Propose from label names",
    disabled=not (tower.names_meaningful and zs_labels) or bool(zs_active),
    key="zeroshot_submit",
):
    zs_id = service.submit_zeroshot(
        store, service.ZeroShotRequest(project_id=project_id, labels=tuple(zs_labels)), project_id=project_id
    )
    st.session_state["zeroshot_flash"] = f"Zero-shot job {zs_id} queued."
    st.rerun()
if zs_flash := st.session_state.pop("zeroshot_flash", None):
    st.success(zs_flash)
zs_jobs = service.list_jobs(store, project_id=project_id, kind=ZS_KIND, limit=1)
if zs_jobs:
    zs_job = zs_jobs[0]
    if zs_job.status == "done" and (zs := service.job_result(zs_job, service.ZeroShotResult)) is not None:
        st.caption(
            f"Job {zs_job.id}: {zs.n_proposals} proposals from {len(zs.labels)} label names "
            f"({len(zs.described)} read from their descriptions; {zs.text_tower})."
        )
    else:
        st.caption(f"Job {zs_job.id}: {zs_job.status} — {zs_job.message}")
