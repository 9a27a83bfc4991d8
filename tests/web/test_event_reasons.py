"""The event log names reasons only where something was found (block/warn), never on allowed rows."""

from __future__ import annotations

import pytest

from captureguard.core.verdict import Decision, Reason, Verdict
from captureguard.web.events import Event

EVIDENCE = (Reason("IMAGE_NSFW", 0.04, "open_nsfw"), Reason("FEMALE_BREAST_EXPOSED", 0.02, "nudenet"))


@pytest.mark.parametrize(
    ("decision", "reasons"),
    [
        (Decision.ALLOW, ()),
        (Decision.WARN, ("IMAGE_NSFW", "FEMALE_BREAST_EXPOSED")),
        (Decision.BLOCK, ("IMAGE_NSFW", "FEMALE_BREAST_EXPOSED")),
    ],
)
def test_reasons_only_for_block_and_warn(decision: Decision, reasons: tuple[str, ...]) -> None:
    event = Event.from_verdict(Verdict(decision, 0.03, EVIDENCE, "child"), source="api")
    assert event.reasons == reasons
    assert event.scores["fused"] == pytest.approx(0.03)  # the scores are kept on every row
    assert event.scores["IMAGE_NSFW"] == pytest.approx(0.04)
