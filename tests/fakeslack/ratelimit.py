"""Token buckets that model Slack's Web API rate limits (off by default in the fake).

Slack documents limits per method, per workspace, per app, in tiers: Tier 1 = 1+/min,
Tier 2 = 20+/min, Tier 3 = 50+/min, Tier 4 = 100+/min, with bursts tolerated.
``chat.postMessage`` is "special": about one message per second per channel, short bursts
allowed, plus a workspace-wide limit whose size Slack does not publish (``None`` here
unless you set one).

``scale`` multiplies every refill rate (``scale=10`` is "Slack, ten times faster") so a
benchmark can run with the limits on in a few seconds; burst sizes stay as configured.
A refused call answers HTTP 429 with an integer ``Retry-After`` (at least 1, as Slack's
header is whole seconds).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable

#: Documented minimum calls per minute for each tier.
TIER_PER_MINUTE: dict[int, float] = {1: 1, 2: 20, 3: 50, 4: 100}
#: Burst sizes (bucket capacity) per tier: the fake's choice ("bursts tolerated").
TIER_BURST: dict[int, int] = {1: 1, 2: 5, 3: 10, 4: 20}

#: Tiers from docs.slack.dev (Special-tier reads are modelled as Tier 4).
METHOD_TIERS: dict[str, int] = {
    "auth.test": 4,
    "users.lookupByEmail": 3,
    "users.list": 2,
    "users.info": 4,
    "conversations.list": 2,
    "conversations.info": 3,
    "conversations.join": 3,
    "conversations.invite": 3,
    "conversations.open": 3,
    "conversations.history": 3,
    "conversations.replies": 3,
    "chat.scheduleMessage": 3,
    "chat.deleteScheduledMessage": 3,
    "chat.scheduledMessages.list": 3,
    "chat.update": 3,
    "chat.delete": 3,
    "chat.getPermalink": 4,
    "openid.connect.token": 4,
    "openid.connect.userInfo": 3,
    "views.open": 4,
}
POST_METHOD = "chat.postMessage"


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` tokens per second."""

    def __init__(self, rate: float, burst: int, now: float):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.last = now

    def _refill(self, now: float) -> None:
        if now > self.last:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now

    def wait(self, now: float) -> float:
        """Seconds until one token is available (0 when one is available now)."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1

    def lower_bound(self, n: int) -> float:
        """The least time ``n`` calls can take through a full bucket."""
        return max(0.0, (n - self.burst) / self.rate)


class RateLimits:
    """Per-method tier buckets plus per-channel (and optional workspace) post buckets."""

    def __init__(
        self,
        *,
        scale: float = 1.0,
        tier_per_minute: dict[int, float] | None = None,
        tier_burst: dict[int, int] | None = None,
        method_tiers: dict[str, int] | None = None,
        post_per_channel_per_second: float = 1.0,
        post_channel_burst: int = 3,
        post_workspace_per_minute: float | None = None,
        post_workspace_burst: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ):
        if scale <= 0:
            raise ValueError("scale must be > 0")
        self.scale = scale
        self.tier_per_minute = {**TIER_PER_MINUTE, **(tier_per_minute or {})}
        self.tier_burst = {**TIER_BURST, **(tier_burst or {})}
        self.method_tiers = {**METHOD_TIERS, **(method_tiers or {})}
        self.post_per_channel_per_second = post_per_channel_per_second
        self.post_channel_burst = post_channel_burst
        self.post_workspace_per_minute = post_workspace_per_minute
        self.post_workspace_burst = post_workspace_burst
        self.clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    # -- bucket definitions -------------------------------------------------------------
    def _specs(self, method: str, channel: str | None) -> list[tuple[tuple[str, str], float, int]]:
        """``[(key, rate per second, burst)]`` that one call of ``method`` must pass."""
        if method == POST_METHOD:
            specs = [
                (
                    ("post-channel", channel or ""),
                    self.post_per_channel_per_second * self.scale,
                    self.post_channel_burst,
                )
            ]
            if self.post_workspace_per_minute:
                specs.append(
                    (
                        ("post-workspace", ""),
                        self.post_workspace_per_minute / 60 * self.scale,
                        self.post_workspace_burst,
                    )
                )
            return specs
        tier = self.method_tiers.get(method)
        if tier is None:
            return []
        return [
            (
                ("method", method),
                self.tier_per_minute[tier] / 60 * self.scale,
                self.tier_burst[tier],
            )
        ]

    # -- runtime ------------------------------------------------------------------------
    def check(self, method: str, channel: str | None = None) -> float:
        """0.0 if the call may proceed (a token is taken from each bucket), else seconds to wait."""
        now = self.clock()
        with self._lock:
            buckets = []
            for key, rate, burst in self._specs(method, channel):
                bucket = self._buckets.get(key)
                if bucket is None:
                    bucket = self._buckets[key] = TokenBucket(rate, burst, now)
                buckets.append(bucket)
            wait = max((b.wait(now) for b in buckets), default=0.0)
            if wait > 0:
                return wait
            for bucket in buckets:
                bucket.take()
            return 0.0

    @staticmethod
    def retry_after(wait: float) -> int:
        """The integer ``Retry-After`` header for a refusal that needs ``wait`` seconds."""
        return max(1, math.ceil(wait))

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()

    # -- planning -----------------------------------------------------------------------
    def lower_bound(self, calls: Iterable[tuple[str, str | None]]) -> float:
        """The least wall time the given ``(method, channel)`` calls can take, from full buckets.

        This is the yardstick for a fan-out benchmark: e.g. 500 DMs + 8 channel posts give
        ``lower_bound([("chat.postMessage", d) for d in dms] + [...])``.
        """
        counts: Counter[tuple[str, str]] = Counter()
        rates: dict[tuple[str, str], tuple[float, int]] = {}
        for method, channel in calls:
            for key, rate, burst in self._specs(method, channel):
                counts[key] += 1
                rates[key] = (rate, burst)
        bound = 0.0
        for key, n in counts.items():
            rate, burst = rates[key]
            bound = max(bound, max(0.0, (n - burst) / rate))
        return bound
