"""Rate limits of the sharing API, one token bucket per client shared by every API worker.

``subjectdb api --workers N`` runs N processes; a client's requests land on any of them, so
the bucket cannot live in one process's memory. Each bucket is a 16-byte file under
``data/sharing/ratelimit/`` (named by a hash of the client: a key id, or the address of an
unauthenticated caller) holding the tokens left and the time they were counted. A request
takes an exclusive ``flock`` on the file, refills the bucket for the time passed (``rate``
tokens a second, at most ``burst``), takes one token or says how long to wait, writes the
bucket back and releases the lock: a few system calls, no fsync (a bucket need not survive a
crash; a lost bucket starts full). Workers started with other settings share the bucket but
each applies its own rate and burst.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the in-process lock only
    fcntl = None  # type: ignore[assignment]

_BUCKET = struct.Struct("<dd")  # tokens, wall-clock time of the count


@dataclass
class RateLimiter:
    """Token buckets per client in ``folder``: ``rate`` requests a second, bursts of ``burst``."""

    folder: Path
    rate: float
    burst: int
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def bucket(self, client: str) -> Path:
        """The file of ``client``'s bucket (the name says nothing about the client)."""
        return self.folder / hashlib.sha256(client.encode("utf-8")).hexdigest()[:32]

    def take(self, client: str) -> float:
        """0 when the request may go ahead (one token taken), else the seconds to wait."""
        fd = os.open(self.bucket(client), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            else:  # pragma: no cover
                self._lock.acquire()
            now = time.time()
            raw = os.pread(fd, _BUCKET.size, 0)
            tokens, last = _BUCKET.unpack(raw) if len(raw) == _BUCKET.size else (self.burst, now)
            if not (math.isfinite(tokens) and math.isfinite(last)):
                tokens, last = self.burst, now  # a damaged bucket starts full
            tokens = min(float(self.burst), tokens + max(0.0, now - last) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            os.pwrite(fd, _BUCKET.pack(tokens - 1 if wait == 0 else tokens, now), 0)
            return wait
        finally:
            if fcntl is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)
            else:  # pragma: no cover
                self._lock.release()
            os.close(fd)
