"""A pixel budget: how many megapixels of uploads the server decodes and checks at once.

Decoding costs memory in proportion to pixels, not bytes: a 285 KB PNG can hold 100 MP
(300 MB of RGB once decoded). Counting requests (``max_pending_checks``) does not bound that,
so every photo/``/v1/check`` upload also takes its header's megapixels from this budget for as
long as its pixels live (decode and check) and gives them back after. An upload that does not
fit is refused at once with 503 and ``Retry-After`` (nothing is decoded or kept): the server
answers "busy" instead of growing until the kernel kills it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from captureguard.web.security import ApiError


class PixelBudget:
    """A counting semaphore weighted by megapixels, never waited on (over budget: 503).

    Args:
        megapixels: the total that may be held at once (at least one largest upload).
    """

    def __init__(self, megapixels: float) -> None:
        if not megapixels > 0:
            raise ValueError(f"the pixel budget must be positive, got {megapixels!r}")
        self.megapixels = float(megapixels)
        self._held = 0.0
        self._lock = threading.Lock()

    @property
    def held(self) -> float:
        """Megapixels held right now."""
        with self._lock:
            return self._held

    @contextlib.contextmanager
    def hold(self, megapixels: float) -> Iterator[None]:
        """Hold ``megapixels`` (capped at the whole budget, so one upload always fits alone).

        Raises:
            ApiError: 503 ``busy`` with ``Retry-After`` when they do not fit now.
        """
        weight = min(max(megapixels, 0.0), self.megapixels)
        with self._lock:
            if self._held + weight > self.megapixels:
                raise ApiError(
                    503,
                    "busy",
                    f"too many pixels are being checked right now ({weight:.0f} MP more would pass the "
                    f"{self.megapixels:g} MP budget); try again in a moment",
                    headers={"Retry-After": "2"},
                )
            self._held += weight
        try:
            yield
        finally:
            with self._lock:
                self._held -= weight
