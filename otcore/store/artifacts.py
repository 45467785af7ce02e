"""The artifact half of the repository: stored files (features, models, ...) keyed by
``(kind, key)`` and the links from videos to their features. Mixed into :class:`~otcore.store.Store`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from otcore.store.engine import SessionOwner
from otcore.store.models import Artifact, Video, VideoFeature, utcnow
from otcore.store.records import ArtifactInfo, NotFoundError, StoreError, VideoFeatureInfo, artifact_info

__all__ = ["ArtifactRows"]


class ArtifactRows(SessionOwner):
    """Artifact and video-feature methods of the store (they need only its sessions)."""

    # -- artifacts ----------------------------------------------------------------------------

    def add_artifact(
        self, kind: str, key: str, path: str, meta: dict[str, Any] | None = None
    ) -> ArtifactInfo:
        """Record a file under ``(kind, key)``; if that key exists its path and meta are updated
        (the key is a content hash, so the same key means the same content)."""
        meta = dict(meta or {})
        for _ in range(3):
            try:
                with self.write() as s:
                    row = s.scalar(select(Artifact).where(Artifact.kind == kind, Artifact.key == key))
                    if row is None:
                        row = Artifact(kind=kind, key=key, path=str(path), meta=meta)
                        s.add(row)
                    else:
                        row.path = str(path)
                        row.meta = meta
                    s.flush()
                    return artifact_info(row)
            except IntegrityError:
                continue
        raise StoreError(f"could not record artifact {kind}/{key}")

    def find_artifact(self, kind: str, key: str) -> ArtifactInfo | None:
        """The artifact stored under ``(kind, key)``, or None."""
        with self.read() as s:
            row = s.scalar(select(Artifact).where(Artifact.kind == kind, Artifact.key == key))
            return None if row is None else artifact_info(row)

    def get_artifact(self, artifact_id: int) -> ArtifactInfo | None:
        """The artifact with this id, or None."""
        with self.read() as s:
            row = s.get(Artifact, artifact_id)
            return None if row is None else artifact_info(row)

    def list_artifacts(self, kind: str | None = None) -> list[ArtifactInfo]:
        """All artifacts (of one kind), newest first."""
        with self.read() as s:
            q = select(Artifact)
            if kind is not None:
                q = q.where(Artifact.kind == kind)
            return [artifact_info(r) for r in s.scalars(q.order_by(Artifact.id.desc()))]

    def set_video_features(
        self, video_id: int, artifact_id: int, model_id: str | None = None, fps: float | None = None
    ) -> VideoFeatureInfo:
        """Link a features artifact to a video. ``model_id``/``fps`` default to the artifact's
        ``meta["model_id"]``/``meta["fps"]``; an existing link for the same (model, fps) is replaced."""
        with self.write() as s:
            art = s.get(Artifact, artifact_id)
            if art is None:
                raise NotFoundError(f"no artifact with id {artifact_id}")
            if s.get(Video, video_id) is None:
                raise NotFoundError(f"no video with id {video_id}")
            model_id = model_id if model_id is not None else (art.meta or {}).get("model_id")
            fps = fps if fps is not None else (art.meta or {}).get("fps")
            if model_id is None or fps is None:
                raise StoreError("set_video_features needs model_id and fps (arguments or artifact meta)")
            fps = float(fps)
            row = s.scalar(
                select(VideoFeature).where(
                    VideoFeature.video_id == video_id,
                    VideoFeature.model_id == model_id,
                    VideoFeature.fps == fps,
                )
            )
            if row is None:
                row = VideoFeature(video_id=video_id, artifact_id=artifact_id, model_id=model_id, fps=fps)
                s.add(row)
            else:
                row.artifact_id = artifact_id
                row.created_at = utcnow()
            s.flush()
            return VideoFeatureInfo(
                video_id=video_id, artifact=artifact_info(art), model_id=model_id, fps=fps
            )

    def get_video_features(
        self, video_id: int, model_id: str | None = None, fps: float | None = None
    ) -> ArtifactInfo | None:
        """The features artifact of a video (for this model/fps if given; the newest link otherwise)."""
        feats = self.list_video_features(video_id, model_id=model_id, fps=fps)
        return feats[0].artifact if feats else None

    def list_video_features(
        self, video_id: int, model_id: str | None = None, fps: float | None = None
    ) -> list[VideoFeatureInfo]:
        """All feature links of a video, newest first."""
        with self.read() as s:
            q = (
                select(VideoFeature, Artifact)
                .join(Artifact, Artifact.id == VideoFeature.artifact_id)
                .where(VideoFeature.video_id == video_id)
            )
            if model_id is not None:
                q = q.where(VideoFeature.model_id == model_id)
            if fps is not None:
                q = q.where(VideoFeature.fps == float(fps))
            q = q.order_by(VideoFeature.created_at.desc(), VideoFeature.id.desc())
            return [
                VideoFeatureInfo(
                    video_id=vf.video_id, artifact=artifact_info(a), model_id=vf.model_id, fps=vf.fps
                )
                for vf, a in s.execute(q)
            ]
