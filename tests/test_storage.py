"""Shared storage (``OTSTUDIO_STORAGE_URL``, :mod:`otcore.storage`).

* The default (no storage URL) is the data dir itself: keys are paths below it, nothing is copied.
* ``s3://bucket/prefix`` against a local S3 server (moto's server mode, started here on 127.0.0.1
  behind a small TCP relay that counts the bytes the server sends): a real video is ingested, its
  features extracted with the offline encoder, a few-shot model trained and its proposals
  written; every file lands in the bucket, the database holds keys, the local data dir holds only
  the database and the evictable cache; with the cache evicted a prediction job still runs; the
  video route answers a byte range with exactly those bytes while fetching only about that many.
* Bad input: an unknown scheme, a bad bucket, an unreachable endpoint: one clear line.
"""

from __future__ import annotations

import http.client
import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otcore.settings import SettingsError, load_settings
from otcore.storage import LocalStorage, ObjectStorage, StorageError, open_storage, storage_of

BUCKET = "otstudio-test"
PREFIX = "team/a"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------- the default


def test_default_storage_is_the_data_dir_without_copies(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={})
    st = storage_of(settings)
    assert isinstance(st, LocalStorage) and not st.remote
    assert settings.files_dir == settings.data_dir and settings.videos_dir == tmp_path / "videos"
    f = settings.results_dir / "r.npz"
    f.parent.mkdir(parents=True)
    f.write_bytes(b"abc")
    assert st.commit(f) == "results/r.npz"  # the key is the path below the data dir
    assert st.local_copy("results/r.npz") == f  # the file itself, not a copy
    assert st.local_copy("/abs/elsewhere.npz") == Path("/abs/elsewhere.npz")
    assert st.read_range("results/r.npz", 1, 3) == b"bc"
    assert st.info("results/r.npz").size == 3 and st.exists("results/r.npz")
    assert st.move("results/r.npz", "trash/r.npz") and not f.exists()
    assert st.delete("trash/r.npz") and not st.exists("trash/r.npz")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == []  # no cache, no copies


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("gs://bucket/prefix", "scheme 'gs'"),
        ("ftp://bucket", "scheme 'ftp'"),
        ("/srv/otstudio", "no scheme"),
        ("s3://", "is not an S3 bucket name"),
        ("s3://Bad_Bucket/x", "is not an S3 bucket name"),
        ("s3://bucket/../x", "the prefix may hold"),
        ("s3://bucket/x?versionId=1", "only a bucket and a prefix"),
    ],
)
def test_bad_storage_url_is_one_line(url: str, says: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings("/tmp/x", env={"OTSTUDIO_STORAGE_URL": url})
    msg = str(err.value)
    assert says in msg and "OTSTUDIO_STORAGE_URL" in msg and "\n" not in msg


def test_bad_endpoint_is_one_line() -> None:
    with pytest.raises(SettingsError, match="OTSTUDIO_S3_ENDPOINT_URL='localhost:9000' is not an http"):
        load_settings("/tmp/x", env={"OTSTUDIO_S3_ENDPOINT_URL": "localhost:9000"})


def test_storage_url_is_normalised_and_handed_to_workers() -> None:
    env = {"OTSTUDIO_STORAGE_URL": "S3://my.bucket//a/b/", "OTSTUDIO_S3_ENDPOINT_URL": "http://h:9/"}
    s = load_settings("/d", env=env)
    assert s.storage_url == "s3://my.bucket/a/b" and s.s3_endpoint_url == "http://h:9"
    assert s.files_dir == Path("/d/cache/storage/my.bucket/a/b")
    assert s.videos_dir == s.files_dir / "videos"
    assert s.as_env()["OTSTUDIO_STORAGE_URL"] == "s3://my.bucket/a/b"
    assert load_settings("/d", env=s.as_env()) == s


def test_cli_refuses_a_bad_scheme_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from otcore.cli import main

    monkeypatch.setenv("OTSTUDIO_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("OTSTUDIO_STORAGE_URL", "webdav://server/x")
    assert main(["demo"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("otstudio: OTSTUDIO_STORAGE_URL='webdav://server/x' has scheme 'webdav'")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "d").exists()  # nothing was created


# ---------------------------------------------------------------------------- a local S3 server


class Relay:
    """A TCP relay ``127.0.0.1:port`` → ``target``, counting the bytes the target sends back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.received = 0
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(32)
        self.port = int(self._sock.getsockname()[1])
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        socks = [client, upstream]
        try:
            while True:
                ready, _, _ = select.select(socks, [], [], 1.0)
                if self._stop:
                    return
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    if s is upstream:
                        with self._lock:
                            self.received += len(data)
                        client.sendall(data)
                    else:
                        upstream.sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def reset(self) -> None:
        with self._lock:
            self.received = 0

    def close(self) -> None:
        self._stop = True
        self._sock.close()


@pytest.fixture()
def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Relay, object]]:
    """moto's S3 server on a free port with one bucket, reached through a counting relay; the
    environment names the bucket as the storage and the relay as the endpoint."""
    pytest.importorskip("s3fs")
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    relay = Relay(("127.0.0.1", port))
    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("OTSTUDIO_STORAGE_URL", f"s3://{BUCKET}/{PREFIX}")
    monkeypatch.setenv("OTSTUDIO_S3_ENDPOINT_URL", f"http://127.0.0.1:{relay.port}")
    open_storage.cache_clear()
    try:
        yield relay, client
    finally:
        open_storage.cache_clear()
        relay.close()
        server.stop()


def _keys(client: object) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)  # type: ignore[attr-defined]
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def _run_next(store: object, settings: object, kind: str) -> None:
    from otcore.jobs import queue
    from otcore.jobs.worker import run_job

    job = queue.claim_next(store, "test", kinds=[kind])  # type: ignore[arg-type]
    assert job is not None, f"no {kind} job queued"
    status = run_job(store, settings, job, "test")  # type: ignore[arg-type]
    row = queue.get_job(store, job.id, reap=False)  # type: ignore[arg-type]
    assert status == "done", (row.error, row.message)


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


@pytest.fixture()
def media_server() -> Iterator[tuple[object, int]]:
    """The app's video route in a Starlette app under uvicorn (as Streamlit serves it)."""
    import uvicorn
    from starlette.applications import Starlette

    from ui.media import MediaRegistry, media_routes

    reg = MediaRegistry(ttl_s=600)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(Starlette(routes=media_routes(reg)), host="127.0.0.1", port=port, lifespan="off")
    )
    th = threading.Thread(target=server.run, daemon=True)
    th.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield reg, port
    finally:
        server.should_exit = True
        th.join(timeout=10)


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_s3_storage_end_to_end(
    s3: tuple[Relay, object],
    media_server: tuple[object, int],
    data_dir: Path,
    shared_data: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from otcore.jobs.fewshot import PredictRequest, PredictResult, TrainRequest, TrainResult
    from otcore.jobs.queue import get_job, submit_request
    from otcore.service import add_video, job_result, open_store
    from otcore.store import EditLog

    relay, client = s3
    reg, media_port = media_server
    monkeypatch.setenv("OTSTUDIO_CLIP_MODEL", "otstudio-tiny")
    monkeypatch.setenv("OTSTUDIO_OFFLINE", "1")
    monkeypatch.setenv("OTSTUDIO_NO_WORKER", "1")
    settings = load_settings()
    assert settings.storage_url == f"s3://{BUCKET}/{PREFIX}"
    store = open_store(settings)
    storage = store.storage
    assert isinstance(storage, ObjectStorage)
    src = shared_data / "videos" / "demo_demo.mp4"
    data = src.read_bytes()

    # ingest, extract (offline encoder), mark, train + propose
    project = store.create_project("p")
    added = add_video(store, settings, project.id, src)
    video = added.video
    _run_next(store, settings, "extract_features")
    log = EditLog(store)
    log.add_segment(video.id, "jump", 1.0, 3.0)
    log.add_segment(video.id, "swing", 5.0, 8.0)
    train_id = submit_request(store, TrainRequest(project_id=project.id, epochs=3), project_id=project.id)
    _run_next(store, settings, "train_fewshot")
    trained = job_result(get_job(store, train_id), TrainResult)
    assert trained is not None and trained.predictions is not None

    # the database holds keys; every key is an object in the bucket
    feature = store.get_video_features(video.id)
    model = store.get_artifact(trained.artifact_id)
    assert feature is not None and model is not None
    plans = trained.predictions[video.id].plans_path
    assert plans is not None
    keys = {
        "videos": video.path,
        "frame_times": video.frame_times_path,
        "features": feature.path,
        "models": trained.model_path,
        "results": plans,
    }
    assert keys["videos"] == f"videos/{video.sha256}.mp4"
    assert model.path == trained.model_path
    for what, key in keys.items():
        assert key is not None and key.startswith(f"{what}/"), (what, key)
        assert not os.path.isabs(key) and str(data_dir) not in key
    in_bucket = _keys(client)
    assert {f"{PREFIX}/{k}" for k in keys.values()} <= in_bucket
    body = client.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{video.path}")["Body"].read()  # type: ignore[attr-defined]
    assert body == data
    assert EditLog(store).segments(video.id, sources=("predicted",))  # proposals were written

    # locally: only the database and the evictable cache
    local = [p.relative_to(data_dir) for p in data_dir.rglob("*") if p.is_file()]
    stray = [p for p in local if p.parts[0] != "cache" and not p.name.startswith("otstudio.db")]
    assert stray == [], stray
    assert storage.cache_bytes() > 0

    # evicted cache: the next job fetches the model and the features back from the bucket
    assert storage.evict(0) > 0 and storage.cache_bytes() == 0
    predict_id = submit_request(store, PredictRequest(artifact_id=model.id), project_id=project.id)
    _run_next(store, settings, "predict_fewshot")
    predicted = job_result(get_job(store, predict_id), PredictResult)
    assert predicted is not None and predicted.predictions is not None
    new_plans = predicted.predictions[video.id].plans_path
    assert new_plans is not None and f"{PREFIX}/{new_plans}" in _keys(client)
    assert storage.cached_path(keys["models"]).is_file()  # downloaded once into the cache

    # the video route: a byte range read straight from the bucket, nothing copied to disk
    url = reg.register_stored(storage, video.path, "sess")  # type: ignore[attr-defined]
    assert not storage.cached_path(video.path).exists()
    first, last = 200_000, 200_000 + 65_535
    relay.reset()
    status, headers, got = _get(media_port, url, {"Range": f"bytes={first}-{last}"})
    fetched = relay.received
    print(f"range of {last - first + 1} bytes: {fetched} bytes fetched from the S3 server")
    assert status == 206 and got == data[first : last + 1]
    assert headers["content-range"] == f"bytes {first}-{last}/{len(data)}"
    assert headers["content-type"] == "video/mp4"
    assert len(got) <= fetched <= len(got) + 16_384, fetched  # the range plus HTTP headers, no more
    assert not storage.cached_path(video.path).exists()
    status, _, got = _get(media_port, url, {"Range": "bytes=-1000"})
    assert status == 206 and got == data[-1000:]
    status, _, got = _get(media_port, url)
    assert status == 200 and got == data

    # deleting the video moves its objects to the trash prefix; undo moves them back
    from otcore import service

    n_segments = len(EditLog(store).segments(video.id))
    removal = service.delete_video(store, video.id)
    in_bucket = _keys(client)
    assert set(removal.moved) == {keys["videos"], keys["frame_times"], keys["features"]}
    assert not {f"{PREFIX}/{k}" for k in removal.moved} & in_bucket
    assert {f"{PREFIX}/{removal.trash}/{k}" for k in removal.moved} <= in_bucket
    assert service.restore_video(store, removal) == n_segments
    assert {f"{PREFIX}/{k}" for k in removal.moved} <= _keys(client)
    assert not any(k.startswith(f"{PREFIX}/trash/") for k in _keys(client))
    assert not (data_dir / "trash").exists()

    # the object replaced in the bucket (another size and ETag): refused
    client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{video.path}", Body=data[:1000])  # type: ignore[attr-defined]
    status, _, got = _get(media_port, url, {"Range": "bytes=0-99"})
    assert status == 404 and b"replaced" in got
    store.close()


def test_unreachable_endpoint_is_one_line_and_stores_nothing(
    data_dir: Path,
    shared_data: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("s3fs")
    from otcore.cli import main
    from otcore.service import open_store

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("OTSTUDIO_STORAGE_URL", f"s3://{BUCKET}/{PREFIX}")
    monkeypatch.setenv("OTSTUDIO_S3_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")  # nobody listens
    open_storage.cache_clear()
    try:
        src = shared_data / "videos" / "demo_demo.mp4"
        assert main(["add", str(src), "--project", "p", "--no-extract"]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert f"storage s3://{BUCKET}/{PREFIX}: cannot upload 'videos/" in err, err
        assert "Could not connect" in err or "connect" in err.lower(), err
        store = open_store(load_settings())
        project = store.get_project("p")
        assert project is not None and store.list_videos(project.id) == []
        storage = store.storage
        assert isinstance(storage, ObjectStorage)
        with pytest.raises(StorageError, match=f"^storage s3://{BUCKET}/{PREFIX}: cannot reach"):
            storage.check()
        store.close()
    finally:
        open_storage.cache_clear()
