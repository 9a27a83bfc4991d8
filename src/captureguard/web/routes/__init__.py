"""The web app's HTTP routes: the page API, settings and PIN, and the integrator API (``/v1``)."""
