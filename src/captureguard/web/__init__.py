"""The ``captureguard serve`` web app: the guarded camera, gallery, event log and settings."""
