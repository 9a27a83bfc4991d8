"""The Linux camera chokepoint: one guarded camera that every app on the computer goes through.

* :mod:`.framesock`: the frame protocol on ``/run/captureguard/frames.sock`` (SOCK_SEQPACKET,
  one message per released frame, pixels in a sealed memfd), and on ``frames-held.sock``, the
  same stream held back for recording apps;
* :mod:`.peercred`: who may read that socket (``SO_PEERCRED`` / ``SO_PEERGROUPS``);
* :mod:`.camerad`: camera -> StreamGuard -> released frames to the sockets (and v4l2loopback);
* :mod:`.publish`: socket -> a PipeWire ``Video/Source`` node for one user's session;
* :mod:`.doctor`: checks that no real camera is reachable outside the guard;
* :mod:`.conformance`: the index-marked test clip and the audit of what an app received.

It sits beside ``pipeline`` in the layers (it drives ``run_guarded``); its commands live in
``captureguard.cli.chokepoint``.

See ``docs/chokepoint.md`` and ``docs/threat-model.md``.
"""
