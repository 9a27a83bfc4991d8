"""The guard layer: the fail-closed checker and its deadline runner, the photo and stream guards, the Allowed* types."""
