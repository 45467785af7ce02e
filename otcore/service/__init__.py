"""The verbs the app and the CLI share (``otcore.service``): videos and features
(:mod:`otcore.service.videos`), jobs and what they leave behind (:mod:`otcore.service.jobs`).

Pages and the CLI call these and draw or print; nothing here imports Streamlit. The typed
requests and results of every job kind are re-exported here, so a page builds a request and
reads a result without importing a job module.
"""

from otcore.jobs.builtin import SleepRequest, SleepResult
from otcore.jobs.extract import ExtractRequest, ExtractResult
from otcore.jobs.fewshot import PredictRequest, PredictResult, TrainRequest, TrainResult, VideoPredictions
from otcore.jobs.foreground import ForegroundRun, run_foreground
from otcore.jobs.phases import (
    AlignRequest,
    AlignResult,
    PhasesRequest,
    PhasesResult,
    PhasesVideo,
    WeakRequest,
    WeakResult,
    WeakVideo,
)
from otcore.jobs.zeroshot import ZeroShotRequest, ZeroShotResult
from otcore.service.jobs import (
    ALIGN_PLAN,
    PHASE_PLAN,
    cancel_job,
    cluster_to_label,
    default_k,
    get_job,
    job_request,
    job_result,
    latest_fewshot_prediction,
    latest_job,
    list_jobs,
    load_prediction,
    submit_alignment,
    submit_foreground,
    submit_phases,
    submit_prediction,
    submit_sleep,
    submit_training,
    submit_zeroshot,
)
from otcore.service.manage import (
    LabelRemoval,
    LabelUsage,
    ProjectSummary,
    VideoRemoval,
    delete_label,
    delete_project,
    delete_video,
    label_usage,
    project_summary,
    rename_project,
    restore_label,
    restore_video,
    set_label_description,
)
from otcore.service.thumbs import ThumbStrip, span_strip, strip_times, timeline_strip
from otcore.service.towers import TowerStatus, text_tower_status
from otcore.service.transfer import export_from_store, import_into_store
from otcore.service.videos import (
    DEMO_PROJECT,
    DEMO_SEGMENTS,
    DEMO_VIDEO,
    OFFLINE_MODEL,
    AddedVideo,
    EncoderChoice,
    add_video,
    choose_encoder,
    data_file,
    demo_main,
    ensure_demo_project,
    ensure_worker,
    import_folder,
    load_video_features,
    offline_encoder_weights,
    open_store,
    submit_extraction,
    video_rows,
)
from otcore.store.predictions import SavedPrediction

__all__ = [
    # annotations in and out
    "import_into_store",
    "export_from_store",
    # videos and features
    "AddedVideo",
    "EncoderChoice",
    "DEMO_PROJECT",
    "DEMO_SEGMENTS",
    "DEMO_VIDEO",
    "OFFLINE_MODEL",
    "open_store",
    "add_video",
    "import_folder",
    "choose_encoder",
    "offline_encoder_weights",
    "submit_extraction",
    "load_video_features",
    "data_file",
    "ensure_demo_project",
    "demo_main",
    "ensure_worker",
    "video_rows",
    # jobs
    "submit_training",
    "submit_prediction",
    "submit_zeroshot",
    "run_foreground",
    "ForegroundRun",
    "text_tower_status",
    "TowerStatus",
    "submit_phases",
    "submit_alignment",
    "submit_foreground",
    "submit_sleep",
    "get_job",
    "list_jobs",
    "cancel_job",
    "latest_job",
    "job_request",
    "job_result",
    "load_prediction",
    "latest_fewshot_prediction",
    "cluster_to_label",
    "default_k",
    "PHASE_PLAN",
    "ALIGN_PLAN",
    "SavedPrediction",
    # projects, labels and videos
    "ProjectSummary",
    "VideoRemoval",
    "LabelRemoval",
    "LabelUsage",
    "project_summary",
    "rename_project",
    "delete_project",
    "delete_video",
    "restore_video",
    "label_usage",
    "delete_label",
    "restore_label",
    "set_label_description",
    # thumbnails
    "ThumbStrip",
    "strip_times",
    "timeline_strip",
    "span_strip",
    # typed requests and results of every job kind
    "ExtractRequest",
    "ExtractResult",
    "TrainRequest",
    "TrainResult",
    "PredictRequest",
    "PredictResult",
    "VideoPredictions",
    "ZeroShotRequest",
    "ZeroShotResult",
    "PhasesRequest",
    "PhasesResult",
    "PhasesVideo",
    "AlignRequest",
    "AlignResult",
    "WeakRequest",
    "WeakResult",
    "WeakVideo",
    "SleepRequest",
    "SleepResult",
]
