"""The guard layer: the fail-closed checker, the photo and stream guards, and the frame types sinks accept."""
