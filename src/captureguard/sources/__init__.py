"""Frame sources: image files (and, later, cameras and videos)."""
