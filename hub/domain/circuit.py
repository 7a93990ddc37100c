"""A circuit breaker per ERP connection, so a dead ERP is not hammered (issue 15).

Closed: calls go through; `threshold` failures in a row that say the ERP is unavailable
open it. Open: calls are refused at once until `cooldown` seconds have passed (longer when
the ERP said Retry-After). Then half-open: one trial call goes through; its success closes
the breaker, its failure opens it again. Answers that prove the ERP is up (a 404, a 412)
count as successes: the ERP is there, the request was wrong.

Pure: the time comes from the caller, so tests drive it with a fake clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

State = Literal["closed", "open", "half_open"]


@dataclass
class CircuitBreaker:
    threshold: int = 5
    cooldown: float = 30.0
    state: State = "closed"
    failures: int = 0
    opened_at: float = 0.0
    wait: float = 0.0
    trial_running: bool = False

    def allow(self, now: float) -> bool:
        """Whether a call may go out now (in half-open state, only one at a time)."""
        if self.state == "closed":
            return True
        if self.state == "open" and now - self.opened_at >= self.wait:
            self.state = "half_open"
            self.trial_running = False
        if self.state == "half_open" and not self.trial_running:
            self.trial_running = True
            return True
        return False

    def retry_in(self, now: float) -> float:
        """Seconds until a call may be tried again (0 when it may now)."""
        if self.state != "open":
            return 0.0
        return max(0.0, self.opened_at + self.wait - now)

    def succeeded(self) -> None:
        self.state = "closed"
        self.failures = 0
        self.trial_running = False

    def abandoned(self) -> None:
        """A trial call ended without an answer (cancelled): let another one try."""
        self.trial_running = False

    def failed(self, now: float, retry_after: float | None = None) -> None:
        self.failures += 1
        self.trial_running = False
        if self.state == "half_open" or self.failures >= self.threshold:
            self.state = "open"
            self.opened_at = now
            self.wait = max(self.cooldown, retry_after or 0.0)
