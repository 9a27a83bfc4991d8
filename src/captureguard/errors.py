"""The captureguard error tree.

Every error the library raises on purpose derives from :class:`CaptureGuardError`, so an
integrator can catch one type. Messages say what was expected, what arrived and how to fix it.

    CaptureGuardError
    ├── BadInputError          an image/video could not be used (corrupt, unsupported, too big)
    │   └── ImageTooLargeError decompression-bomb guard: more pixels than allowed
    ├── ModelMissingError      a model file is not installed or cannot be loaded
    ├── ConfigError            a profile/fusion/detector configuration is invalid
    └── DetectionError         a detector failed at run time (the guard turns it into a block)
"""

from __future__ import annotations


class CaptureGuardError(Exception):
    """Base class of every error captureguard raises on purpose."""


class BadInputError(CaptureGuardError):
    """An input image or video could not be read or is not usable."""


class ImageTooLargeError(BadInputError):
    """An image has more pixels than the configured cap (decompression-bomb guard)."""


class ModelMissingError(CaptureGuardError):
    """A model file is missing or cannot be loaded."""


class ConfigError(CaptureGuardError):
    """A configuration file or value is invalid."""


class DetectionError(CaptureGuardError):
    """A detector failed while checking a frame."""
