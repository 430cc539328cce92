"""Retry classification, backoff with full jitter, and Retry-After parsing."""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime

from .bundle import RetryPolicy

# Statuses worth another attempt. 409 Conflict is deliberately *not* here: the
# target has decided the write clashes with its state, and repeating the same
# request cannot change that (see docs/runtime.md).
RETRYABLE_STATUS = frozenset({408, 429})

# Ceiling on any single wait asked for by a Retry-After header.
MAX_RETRY_AFTER_S = 900.0


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUS or 500 <= status <= 599


def backoff_delay(policy: RetryPolicy, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    ``exponential``: full jitter, uniform in ``[0, min(max, initial * 2**(attempt-1))]``.
    ``fixed``: ``initial`` every time (capped at max).
    """
    initial = policy.initial_ms / 1000.0
    cap = max(policy.max_ms, policy.initial_ms) / 1000.0
    if policy.backoff == "fixed":
        return min(initial, cap)
    ceiling = min(cap, initial * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(0.0, ceiling)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            from datetime import timezone

            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_S)
