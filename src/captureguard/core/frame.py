"""Frames: immutable pixels plus where and when they came from.

Pixels are frozen when a :class:`Frame` is made, so the bytes that were checked are the bytes
that a sink later writes. Anything that wants to draw on a frame must copy it first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from captureguard.errors import BadInputError


def freeze_bgr(pixels: np.ndarray, *, copy: bool = True) -> np.ndarray:
    """Validate and freeze a ``(H, W, 3) uint8`` BGR array.

    Args:
        pixels: ``(H, W, 3)`` uint8 array in BGR channel order.
        copy: copy the array first (default) so no other reference can change the pixels.
            Pass ``False`` only for an array nobody else holds.

    Returns:
        A C-contiguous, read-only ``(H, W, 3) uint8`` array.

    Raises:
        BadInputError: the array is not ``(H, W, 3) uint8`` or is empty.
    """
    if not isinstance(pixels, np.ndarray):
        raise BadInputError(f"expected a numpy array of pixels, got {type(pixels).__name__}")
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise BadInputError(
            f"expected (H, W, 3) uint8 BGR pixels, got shape {pixels.shape} dtype {pixels.dtype}; "
            "convert grayscale/alpha/16-bit images to 8-bit BGR first"
        )
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise BadInputError(f"expected a non-empty image, got shape {pixels.shape}")
    out = np.array(pixels, order="C", copy=True) if copy else np.ascontiguousarray(pixels)
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class Frame:
    """One picture from a camera, file or stream.

    Attributes:
        bgr: ``(H, W, 3) uint8`` pixels in BGR order, read-only.
        index: position in its stream (0 for a still).
        timestamp_s: capture time in seconds from the start of the stream.
        source: a short description of where it came from (a path, ``camera:0``...).
    """

    bgr: np.ndarray
    index: int = 0
    timestamp_s: float = 0.0
    source: str = field(default="", compare=False)

    @classmethod
    def from_bgr(
        cls,
        pixels: np.ndarray,
        *,
        index: int = 0,
        timestamp_s: float = 0.0,
        source: str = "",
        copy: bool = True,
    ) -> Frame:
        """Make a frame from ``(H, W, 3) uint8`` BGR pixels (copied and frozen by default)."""
        return cls(freeze_bgr(pixels, copy=copy), index, timestamp_s, source)

    @classmethod
    def from_rgb(cls, pixels: np.ndarray, **kwargs: object) -> Frame:
        """Make a frame from ``(H, W, 3) uint8`` RGB pixels."""
        if not isinstance(pixels, np.ndarray) or pixels.ndim != 3 or pixels.shape[2] != 3:
            raise BadInputError(f"expected (H, W, 3) RGB pixels, got {getattr(pixels, 'shape', None)}")
        return cls.from_bgr(np.ascontiguousarray(pixels[:, :, ::-1]), **kwargs)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        if self.bgr.flags.writeable:
            raise BadInputError("Frame pixels must be frozen: build frames with Frame.from_bgr")

    @property
    def height(self) -> int:
        """Height in pixels."""
        return int(self.bgr.shape[0])

    @property
    def width(self) -> int:
        """Width in pixels."""
        return int(self.bgr.shape[1])

    @property
    def megapixels(self) -> float:
        """Pixel count in millions."""
        return self.height * self.width / 1e6
