"""Keep pixels and image metadata out of every log, at every level.

Two third-party libraries write image content at DEBUG level:

* Pillow's plugins (``PIL.TiffImagePlugin`` above all) log every EXIF/TIFF tag with its value
  while a file is opened: the photo's ``Artist``, ``GPSInfo``, maker notes, thumbnails.
* ``websockets`` (used by uvicorn for the viewfinder socket) logs each frame it sends or
  receives (``< BINARY ff d8 ff e0 ...``): the bytes of viewfinder frames and guarded answers.

:func:`install` adds a filter to those loggers themselves (not to handlers), so the records are
dropped whatever handlers or levels the application sets, ``-vv`` included. Only their DEBUG
records are dropped; warnings and errors still pass. The CLI and the web app call it; an
integrator who logs Pillow or websockets at DEBUG can call it too.
"""

from __future__ import annotations

import logging

#: Pillow's loggers (every Pillow module that logs; made here before Pillow makes them, so the
#: filter is in place whenever they log). The filter also drops any other ``PIL.*`` record that
#: reaches a filtered logger by name.
PIL_LOGGERS = ("PIL", "PIL.Image", "PIL.ImageFile", "PIL.PngImagePlugin", "PIL.TiffImagePlugin", "PIL.PcxImagePlugin")
#: Loggers whose DEBUG records may hold frame bytes.
FRAME_LOGGERS = ("websockets", "websockets.server", "websockets.client", "websockets.protocol", "uvicorn.error")


class NoImageDataFilter(logging.Filter):
    """Drops the DEBUG records that can carry image data: Pillow's and websocket frame dumps."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO:
            return True
        if record.name == "PIL" or record.name.startswith("PIL."):
            return False
        message = record.msg if isinstance(record.msg, str) else ""
        return not message.startswith(("< ", "> "))  # websockets: "< %s" / "> %s" with the frame


_FILTER = NoImageDataFilter()


def install() -> None:
    """Attach :class:`NoImageDataFilter` to every Pillow logger and the websocket loggers (idempotent)."""
    existing = [n for n in logging.root.manager.loggerDict if n == "PIL" or n.startswith("PIL.")]
    for name in {*existing, *PIL_LOGGERS, *FRAME_LOGGERS}:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
