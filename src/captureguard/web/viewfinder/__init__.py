"""The web viewfinder: one guarded stream per camera page (the socket, its worker thread, its recorder)."""
