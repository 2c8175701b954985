"""Limits for an app on a public link: how large and how often anonymous suggestions may be.

Anyone with the link may suggest catalogue photos, so each picture is limited in size (bytes and
pixels, checked by `Catalogue.add_photo`) and each client in rate, with a cap on everyone together
so that one public link cannot fill the disk. Curators who signed in are not rate-limited.

Example:
    >>> limiter = RateLimiter(per_client=[(2, 60)], overall=[(100, 3600)])
    >>> limiter.acquire("10.0.0.1 abc"); limiter.acquire("10.0.0.1 abc")
    >>> limiter.acquire("10.0.0.1 abc")
    Traceback (most recent call last):
    ...
    sasirangan.limits.LimitExceeded: Too many suggestions from you: at most 2 a minute. Try again in 60 s.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from typing import Callable, Sequence

MAX_SUGGESTION_BYTES = 10_000_000  # an uploaded file larger than this is refused (10 MB)
MAX_SUGGESTION_PIXELS = 40_000_000  # a picture with more pixels than this is refused (40 MP)
SUGGESTIONS_PER_MINUTE = 6  # per client (its address and browser session)
SUGGESTIONS_PER_HOUR = 60  # per client
SUGGESTIONS_PER_HOUR_ALL = 600  # from all clients together
SIGN_INS_PER_MINUTE = 5  # curator sign-in attempts per client address (guessing passwords)

_WINDOW_NAMES = {1: "a second", 60: "a minute", 3600: "an hour", 86400: "a day"}


class LimitExceeded(Exception):
    """A request over a rate limit; the message says which limit and when to try again."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after  # seconds until one more request would be allowed


def _per(seconds: float) -> str:
    return _WINDOW_NAMES.get(seconds, f"per {seconds:g} s")


def _wait(seconds: float) -> str:
    seconds = max(1, math.ceil(seconds))
    return f"{seconds} s" if seconds < 120 else f"{math.ceil(seconds / 60)} min"


class RateLimiter:
    """Sliding-window rate limits, per client and over all clients; thread-safe.

    A request is allowed when, for every window, fewer than `limit` requests were allowed in
    the last `seconds`. Checking and recording are one step under a lock, so concurrent
    requests cannot overshoot a limit, and a refused request is not recorded.

    Args:
        per_client: (limit, seconds) windows applied to each client key separately.
        overall: (limit, seconds) windows applied to all clients together.
        what: what is being limited, for the messages ("suggestions").
        clock: seconds as a float, monotonic (`time.monotonic`; tests pass a fake clock).
    """

    def __init__(self, per_client: Sequence[tuple[int, float]] = ((SUGGESTIONS_PER_MINUTE, 60),
                                                                  (SUGGESTIONS_PER_HOUR, 3600)),
                 overall: Sequence[tuple[int, float]] = ((SUGGESTIONS_PER_HOUR_ALL, 3600),),
                 what: str = "suggestions", clock: Callable[[], float] = time.monotonic):
        self.per_client = [(int(limit), float(seconds)) for limit, seconds in per_client]
        self.overall = [(int(limit), float(seconds)) for limit, seconds in overall]
        self.what = what
        self.clock = clock
        self._lock = threading.Lock()
        self._clients: dict[str, list[float]] = {}  # key -> times of its allowed requests, oldest first
        self._all: list[float] = []
        self._longest = max((seconds for _, seconds in (*self.per_client, *self.overall)), default=0.0)
        self._swept = clock()

    def acquire(self, client: str) -> None:
        """Record one request of `client`, or refuse it.

        Raises:
            LimitExceeded: a window is full; nothing is recorded.
        """
        with self._lock:
            now = self.clock()
            self._sweep(now)
            times = self._clients.get(client, [])
            for windows, history, whose in ((self.per_client, times, "from you"),
                                            (self.overall, self._all, "from everyone together")):
                for limit, seconds in windows:
                    start = bisect.bisect_right(history, now - seconds)
                    if len(history) - start >= limit:
                        retry = history[len(history) - limit] + seconds - now if limit > 0 else seconds
                        raise LimitExceeded(f"Too many {self.what} {whose}: at most {limit} {_per(seconds)}. "
                                            f"Try again in {_wait(retry)}.", retry)
            times.append(now)
            self._clients[client] = times
            self._all.append(now)

    def count(self, client: str | None = None, seconds: float | None = None) -> int:
        """Requests recorded in the last `seconds` (the longest window) for a client, or for all."""
        with self._lock:
            now = self.clock()
            history = self._all if client is None else self._clients.get(client, [])
            return len(history) - bisect.bisect_right(history, now - (self._longest if seconds is None else seconds))

    def _sweep(self, now: float) -> None:
        """Forget requests older than the longest window (and clients with none left), now and then."""
        if now - self._swept < min(self._longest, 60.0):
            return
        self._swept = now
        cutoff = now - self._longest
        for key in list(self._clients):
            times = self._clients[key]
            del times[:bisect.bisect_right(times, cutoff)]
            if not times:
                del self._clients[key]
        del self._all[:bisect.bisect_right(self._all, cutoff)]
