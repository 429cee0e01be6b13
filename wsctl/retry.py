"""Retries with exponential backoff and jitter, for retryable failures only.

What is retryable is decided where the error is made (``WebSocketError.retryable``): a failed
connection (refused, reset, 5xx, 408, 429), a timeout, or a closure with 1006, 1011, 1012 or
1013.  Certificate failures, other 4xx rejections, policy denials and bad input are not: trying
again cannot change their outcome.

The delay before retry *n* (1-based) is drawn from ``[d/2, d]`` with
``d = min(max_delay, delay * 2**(n-1))`` ("equal jitter"): it grows exponentially, never
exceeds the maximum, never collapses to zero, and clients that failed together spread out.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from wsctl.errors import WebSocketError

T = TypeVar("T")

# 2**62 seconds is already far beyond any maximum delay; capping the exponent avoids overflow.
_MAX_EXPONENT = 62


def backoff_delay(
    retry: int, delay: float, max_delay: float, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait before retry number ``retry`` (1 for the first retry).

    ``rand`` returns a number in ``[0, 1)``; tests pass a fixed one.
    """
    if retry < 1:
        raise ValueError("retry numbers start at 1")
    ceiling = min(max_delay, delay * 2.0 ** min(retry - 1, _MAX_EXPONENT))
    return ceiling / 2 + rand() * ceiling / 2


def is_retryable(error: BaseException) -> bool:
    """True for :mod:`wsctl.errors` errors marked retryable."""
    return isinstance(error, WebSocketError) and error.retryable


@dataclass(frozen=True)
class RetryNotice:
    """Told to the caller before each wait: what failed, which retry comes, and when."""

    error: WebSocketError
    retry: int
    retries: int | None  # None: no limit (``listen --reconnect``)
    delay: float


async def retrying(
    attempt: Callable[[], Awaitable[T]],
    *,
    retries: int | None,
    delay: float,
    max_delay: float,
    notify: Callable[[RetryNotice], None] | None = None,
) -> T:
    """Run ``attempt`` until it succeeds, fails for good, or ``retries`` retries are spent.

    ``retries=None`` retries without limit.  ``notify`` hears of each retry before its wait.
    The last error is raised unchanged.
    """
    retry = 0
    while True:
        try:
            return await attempt()
        except WebSocketError as error:
            if not error.retryable or (retries is not None and retry >= retries):
                raise
            retry += 1
            wait = backoff_delay(retry, delay, max_delay)
            if notify is not None:
                notify(RetryNotice(error, retry, retries, wait))
            await asyncio.sleep(wait)
