"""The core layer: the maths of one decision (frame, detections, fusion, policy, verdict, ledger); numpy + stdlib."""
