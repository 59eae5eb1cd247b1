"""The server's work queue: fills, detections and restorations on one worker thread, a
bounded queue, cancellation when a client leaves or a request runs past its time, and the
progress board the page polls."""

from __future__ import annotations

import asyncio
import re
import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi import HTTPException, Request


class Cancelled(Exception):
    """A fill whose client went away, or whose time ran out: the worker drops it."""


class WorkQueue:
    """Fills run one at a time on a worker thread, so every other route answers at once.

    At most `depth` fills wait or run; one more gets 503 with Retry-After. A fill that takes
    longer than `timeout` seconds gets 503 too, and a fill whose client disconnects is
    dropped: either way the job's `cancel` event is set, and the worker stops it at its next
    check (between batches of windows), so an abandoned fill stops costing CPU. On shutdown
    the running fill finishes and queued ones are cancelled.
    """

    def __init__(self, depth: int = 8, timeout: float = 120.0) -> None:
        self.depth, self.timeout = depth, timeout
        self.slots = threading.BoundedSemaphore(depth)
        self.executor: ThreadPoolExecutor | None = None
        self.open()

    def open(self) -> None:
        """Start the worker (at app start-up; again after a shutdown, as test clients do)."""
        if self.executor is None:
            self.executor = ThreadPoolExecutor(1, thread_name_prefix="photorecon-fill")

    async def run(self, fn, *args, request: Request | None = None):
        """`fn(cancel, *args)` on the worker; `cancel` (a threading.Event) is set when the
        answer is no longer wanted."""
        if not self.slots.acquire(blocking=False):
            raise HTTPException(
                503,
                f"busy: {self.depth} fills are queued; try again shortly",
                headers={"Retry-After": "5"},
            )
        cancel = threading.Event()
        try:
            if self.executor is None:
                raise RuntimeError("closed")
            future = self.executor.submit(fn, cancel, *args)
        except RuntimeError:  # shutting down
            self.slots.release()
            raise HTTPException(503, "the server is shutting down") from None
        future.add_done_callback(lambda _: self.slots.release())
        waiting = asyncio.ensure_future(asyncio.wrap_future(future))
        # a dropped job's outcome (Cancelled, say) is read here, so asyncio does not log it
        waiting.add_done_callback(lambda f: f.cancelled() or f.exception())
        watcher = asyncio.ensure_future(_gone(request)) if request is not None else None
        try:
            pending = {waiting} if watcher is None else {waiting, watcher}
            done, _ = await asyncio.wait(
                pending, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if waiting in done:
                return waiting.result()
            cancel.set()
            if watcher is not None and watcher in done:  # nobody to answer
                raise HTTPException(499, "the client went away")
            raise HTTPException(
                503,
                f"the fill took longer than {self.timeout:g} s; try a smaller photo or hole",
                headers={"Retry-After": "30"},
            )
        except asyncio.CancelledError:  # the server dropped the request
            cancel.set()
            raise
        finally:
            if watcher is not None:
                watcher.cancel()

    def close(self) -> None:
        executor, self.executor = self.executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


async def _gone(request: Request, every: float = 0.2) -> None:
    """Returns once the client of `request` has disconnected."""
    while not await request.is_disconnected():
        await asyncio.sleep(every)


PROGRESS_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


class ProgressBoard:
    """(done, total) of the fills that asked to be followed, by their client's id; the oldest
    go first past `keep` (a client that never asks again costs nothing for long)."""

    def __init__(self, keep: int = 256) -> None:
        self.keep = keep
        self.states: dict[str, tuple[int, int]] = {}
        self.lock = threading.Lock()

    def reporter(self, key: str | None):
        if key is None:
            return None

        def report(done: int, total: int) -> None:
            with self.lock:
                self.states.pop(key, None)
                self.states[key] = (done, total)
                while len(self.states) > self.keep:
                    self.states.pop(next(iter(self.states)))

        return report

    def get(self, key: str) -> tuple[int, int] | None:
        with self.lock:
            return self.states.get(key)


def checker(cancel: threading.Event):
    """A `check` for the fill path: raises Cancelled once `cancel` is set."""

    def check() -> None:
        if cancel.is_set():
            raise Cancelled

    return check
