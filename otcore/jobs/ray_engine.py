"""What the bulk commands share (:mod:`otcore.jobs.ray_extract`, :mod:`otcore.jobs.ray_predict`):
joining or starting Ray, how many actors and of what kind, handing items to free actors, and the job
rows a bulk run holds.

A bulk run writes job rows of the worker's kinds and claims them itself at once, with one attempt
(:func:`claim_rows`): no worker takes them, the app's job lists show them, a cancel from the app is
seen by the run, and a run that dies leaves its rows failed (its pid is gone, or its heartbeats
stop) instead of queued for a worker to run again.
"""

from __future__ import annotations

import importlib
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from otcore.jobs import queue
from otcore.jobs.spec import JobRequest, to_json
from otcore.settings import Settings
from otcore.store import Store
from otcore.store.jobrows import ClaimedBy

__all__ = ["Outcome", "TICK_S", "driver_id", "claim_rows", "init_ray", "actor_options", "run_on_actors"]

#: Seconds between the driver's heartbeats of the rows it holds (well under the stale timeout).
TICK_S = 2.0

T = TypeVar("T")
#: What an actor returns for one item: ``("ok", result JSON)``, ``("error", message)`` or
#: ``("cancelled", message)``.
Outcome = tuple[str, Any]


def driver_id() -> str:
    """The worker id under which a bulk command holds its job rows."""
    return f"bulk:{queue.hostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim_rows(
    store: Store, requests: Sequence[JobRequest], project_id: int | None, worker_id: str
) -> list[int]:
    """Write each request as a job row already running for ``worker_id`` (this process), with one
    attempt: no worker takes it, and if this process dies the row is failed, not run again."""
    by = ClaimedBy(worker_id=worker_id, pid=os.getpid(), host=queue.hostname())
    return [
        store.jobs.insert(r.kind, to_json(r), project_id, max_attempts=1, claimed_by=by) for r in requests
    ]


def _check_address(address: str) -> None:
    """A clear message, before Ray waits minutes for a cluster that is not there."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(
            f"--address {address!r} is not HOST:PORT (as `ray start --head` prints it), ray://HOST:PORT or auto"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=3.0).close()
    except OSError as exc:
        raise ValueError(f"no Ray cluster answers at {address}: {exc}") from None


def init_ray(address: str | None, slots: int | None) -> Any:
    """The ``ray`` module, initialised: joined to the cluster at ``address``, or a local Ray with
    ``slots`` CPUs (its workers import this checkout's otcore) when ``address`` is None and Ray is
    not yet initialised. Bad input (no Ray, an address nobody answers at) → ``ValueError``."""
    try:
        ray: Any = importlib.import_module("ray")  # optional extra, used untyped
    except ImportError:
        raise ValueError("the ray engine needs Ray: pip install 'otstudio[ray]'") from None
    if ray.is_initialized():
        return ray
    if address:
        _check_address(address)
        try:
            ray.init(address=address, log_to_driver=False)
        except Exception as exc:  # noqa: BLE001 - e.g. a port that is not a Ray head
            raise ValueError(
                f"cannot join the Ray cluster at {address}: {type(exc).__name__}: {exc}"
            ) from None
    else:
        root = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        ray.init(num_cpus=slots, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    return ray


def actor_options(
    ray: Any, settings: Settings, slots: int | None, n_items: int
) -> tuple[int, dict[str, Any]]:
    """How many actors (``slots``, else the cluster's GPUs, else its CPUs; at most one per item)
    and the resources of each (a GPU when the cluster has some and the device setting allows)."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    use_gpu = gpus > 0 and settings.device not in ("cpu",)
    n_slots = slots or (gpus if use_gpu else int(resources.get("CPU", 1)))
    n_slots = max(1, min(n_slots, n_items or 1))
    return n_slots, ({"num_gpus": 1, "num_cpus": 0} if use_gpu else {"num_cpus": 1})


def run_on_actors(
    ray: Any,
    actors: Sequence[Any],
    items: Sequence[T],
    call: Callable[[Any, T], Any],
    *,
    on_done: Callable[[T, Outcome], None],
    may_start: Callable[[T], bool] = lambda item: True,
    stop: Callable[[], bool] = lambda: False,
    tick: Callable[[], None] = lambda: None,
) -> None:
    """Hand ``items`` to free ``actors`` (``call(actor, item)`` → an object ref of an
    :data:`Outcome`) until all are done. Before each start, ``stop()`` (True: start nothing more,
    wait for the running ones) and ``may_start(item)`` (False: skip it); ``tick()`` every
    :data:`TICK_S` seconds while waiting; ``on_done(item, outcome)`` as each one finishes."""
    pending: dict[Any, tuple[Any, T]] = {}
    free, todo = list(actors), list(items)
    stopped = False
    while True:
        while free and todo and not stopped:
            if stop():
                stopped = True
                break
            item = todo.pop(0)
            if may_start(item):
                actor = free.pop()
                pending[call(actor, item)] = (actor, item)
        if not pending:
            return
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=TICK_S)
        tick()
        for ref in ready:
            actor, item = pending.pop(ref)
            free.append(actor)
            try:
                out = cast("Outcome", tuple(ray.get(ref)))
            except Exception as exc:  # noqa: BLE001 - the actor died (node lost): report the item
                out = ("error", f"{type(exc).__name__}: {exc}")
            on_done(item, out)
