"""``captureguard eval``: measure a guard on your own labelled data.

``manifest`` and ``metrics`` are the pure core (numpy + stdlib); ``videos``, ``perturb``,
``runner`` and ``report`` are the shell around it (models, PyAV/OpenCV, files).
"""
