"""The checker: detectors -> fusion -> policy for one frame, failing closed.

:meth:`Checker.check` never raises for a detector or policy failure and never lets one pass:
an exception becomes ``BLOCK(reason="error")`` and a check that overruns its deadline becomes
``BLOCK(reason="timeout")``, both logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np

from captureguard.core.detection import (
    DEFAULT_BLOCK_CLASSES,
    HAND,
    NSFW_PROBE,
    NSFW_PROBE_SCENE,
    NSFWJS_PICTURE,
    NSFWJS_PROBE,
    PICTURE_NSFW,
    PICTURE_OUTER,
    Detections,
)
from captureguard.core.frame import Frame
from captureguard.core.fusion import Assessment, FusionModel
from captureguard.core.hands import HANDS_MODEL, HANDS_TIMING, Hand, explained
from captureguard.core.policy import Profile, decide, load_profiles
from captureguard.core.region import Box, picture_box, pixel_window, shifted, window_area
from captureguard.core.second_look import SKIPPED_TIGHTER, LookTimes, PictureRule, withheld_late
from captureguard.core.second_look import second_look as join_looks
from captureguard.core.verdict import Decision, Verdict
from captureguard.errors import CaptureGuardError, ConfigError
from captureguard.guard.deadline import DeadlineExceededError, DeadlineRunner
from captureguard.models.base import (
    AfterDetector,
    Detector,
    build_detector,
    load_detector_configs,
    load_hand_rules,
    load_picture_checks,
    runs_after,
    with_people_input,
)
from captureguard.models.hands import HandFinder, hand_finder
from captureguard.models.nsfwjs import NsfwjsDetector
from captureguard.models.probe import NsfwProbeDetector

log = logging.getLogger(__name__)


def _require_scene_probe(head: FusionModel, configs: Sequence[dict[str, object]], table: str) -> None:
    """A head that reads ``NSFW_PROBE_SCENE`` needs a configured ``nsfw_probe`` to report it.

    Without it the feature would sit at its floor (logit of 1e-4) and lower every score: a
    detectors file written for v2.1 (no ``scene_probe``) would silently block less. Detector sets
    without any ``nsfw_probe`` are left alone (their heads are the user's business).

    Raises:
        ConfigError: an ``nsfw_probe`` is configured without ``scene_probe`` under such a head.
    """
    if not head.weights.get(f"logit:{NSFW_PROBE_SCENE}", 0.0):
        return
    probes = [c for c in configs if c.get("type") == "nsfw_probe"]
    if probes and not any(c.get("scene_probe") for c in probes):
        raise ConfigError(
            f"[{table}]: the fitted head ({head.version}) reads NSFW_PROBE_SCENE: set scene_probe = true"
            " on its nsfw_probe detector"
        )


def _require_probes(head: FusionModel, detectors: Sequence[Detector], table: str) -> None:
    """A head that names its probes (``probes``: label -> version) reads only their scores.

    The live pair since v2.5 is fitted on the picture locator's crops too, so the live heads also
    name the locator (under ``PICTURE_NSFW``): without it, or with another, the probes read other
    crops than they were fitted on.

    The photo and live heads are fitted on the out-of-fold scores of different probe pairs (the
    photo pair on people found at 960); under another pair the same frame scores on another scale
    and the profile thresholds no longer hold the false-block rates they were set for. The photo
    head since v2.8 also names the probe on nsfwjs' embedding (``NSFWJS_PROBE``): without the
    ``nsfwjs`` detector and that probe, the head would read its floor and block less.

    Detector sets with neither an ``nsfw_probe`` nor an ``nsfwjs`` detector are left alone (their
    heads are the user's business).

    Raises:
        ConfigError: the detectors load other probes than the head names, or none for a label it names.
    """
    want = head.extra.get("probes") or {}
    have: dict[str, str | None] = {}
    for det in detectors:
        if isinstance(det, NsfwProbeDetector):
            have |= {
                NSFW_PROBE: det.probe.version,
                NSFW_PROBE_SCENE: det.scene_probe.version if det.scene_probe is not None else None,
                PICTURE_NSFW: det.locator.version if det.locator is not None else None,
            }
        elif isinstance(det, NsfwjsDetector):
            have[NSFWJS_PICTURE if det.crop else NSFWJS_PROBE] = det.probe.version if det.probe is not None else None
    if not have:
        return
    for label, version in want.items():
        if have.get(label) != version:
            where = (
                "the nsfwjs detector loads"
                if label in (NSFWJS_PROBE, NSFWJS_PICTURE)
                else "the nsfw_probe detector loads"
            )
            raise ConfigError(
                f"[{table}]: the fitted head ({head.version}) reads {label} of probe {version!r}, but {where}"
                f" {have.get(label)!r}: name the head's probes with probe =, scene_probe = and locator ="
                " (the shipped detectors.toml shows them)"
            )


def _detect_after(det: Detector, frame: Frame, *, found: Detections) -> Detections:
    if not isinstance(det, AfterDetector):  # runs_after() said it is one
        raise TypeError(f"{det.name} does not read other detections")
    return det.detect_after(frame, found)


def _in_parallel(
    jobs: Sequence[tuple[str, Callable[[Frame], Detections]]], frame: Frame
) -> tuple[list[Detections], list[float]]:
    """Each ``(name, detect)`` job on ``frame``, the first on the caller's thread and each other on a
    thread of its own: their detections and ms; the first failure in job order is re-raised."""
    done: list[tuple[Detections | None, BaseException | None, float]] = [(None, None, 0.0)] * len(jobs)

    def run(i: int) -> None:
        t0 = time.perf_counter()
        try:
            done[i] = (jobs[i][1](frame), None, (time.perf_counter() - t0) * 1e3)
        except BaseException as exc:  # handed to the caller below, whatever it is
            done[i] = (None, exc, (time.perf_counter() - t0) * 1e3)

    helpers = [
        threading.Thread(target=run, args=(i,), name=f"captureguard-detect-{jobs[i][0]}", daemon=True)
        for i in range(1, len(jobs))
    ]
    for t in helpers:
        t.start()
    if jobs:
        run(0)
    for t in helpers:
        t.join()
    for _, exc, _ in done:
        if exc is not None:
            raise exc
    return [found if found is not None else Detections.empty() for found, _, _ in done], [ms for *_, ms in done]


Mode = Literal["photo", "live"]


@dataclass(frozen=True)
class Inspection:
    """A verdict with the detections behind it (boxes in the whole frame's pixels).

    Attributes:
        verdict: the decision (a failure verdict when the check failed).
        detections: what the detectors found (empty when the check failed).
        region: the crop checked (frame pixels), or None for the whole frame.
    """

    verdict: Verdict
    detections: Detections
    region: Box | None = None


@dataclass(frozen=True)
class FirstStage:
    """The live cascade's cheap first stage (``detectors.toml`` ``[live_first]``, ``data/fusion_live_first.json``).

    It runs on every check; the full detector set runs only when its fused score reaches
    ``escalate_at`` (fitted so that no dev still the full live check blocks stays below it, with a
    margin: ``tools/detect_v2/fit_heads.py``), and on every ``every``-th check regardless (0: never
    on schedule). Below ``escalate_at`` the frame is decided on this stage's evidence alone. On an
    escalation, detectors the full set shares with this stage (the same objects) are not run again.
    With ``run_ahead``, after an escalation the rest of the full set runs alongside the next first
    stage (:meth:`Checker._first_stage`), except detectors that read the check's own detections
    (:func:`~captureguard.models.base.runs_after`): they run once the first stage has escalated.
    """

    detectors: Sequence[Detector]
    fusion: FusionModel
    escalate_at: float
    every: int = 0
    run_ahead: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.escalate_at <= 1.0 or self.every < 0:
            raise ConfigError(f"cascade: escalate_at must be in (0, 1] and every >= 0, got {self}")


#: what reads the located picture's crop: ``(frame, window) -> Inspection``
CropRead = Callable[[Frame, tuple[int, int, int, int]], Inspection]


def _hand_pass(detectors_path: str | Path | None, mode: str, threads: int) -> HandFinder | None:
    """The hand finder of ``mode``'s ``[MODE.hands]`` table (None without one).

    Raises:
        ModelMissingError: the hand models have not been built (``make hand-models``).
    """
    rule = load_hand_rules(detectors_path).get(mode)
    return hand_finder(rule, threads=threads) if rule is not None else None


def hand_detections(hands: Sequence[Hand]) -> Detections:
    """One :data:`~captureguard.core.detection.HAND` detection per hand: its landmarks' box."""
    if not hands:
        return Detections.empty()
    return Detections.from_arrays(
        np.array([h.box() for h in hands], np.float32),
        np.array([h.score for h in hands], np.float32),
        [HAND] * len(hands),
        model=HANDS_MODEL,
    )


@dataclass(frozen=True)
class PictureCheck:
    """The live check's second look (:mod:`captureguard.core.second_look`): ``checker`` (the
    ``rule.mode`` check, same profile) run on the picture locator's outer box when ``rule`` wants it.
    A rule naming the check's own mode runs that check's full detector set (no cascade, no further
    look) on the crop."""

    rule: PictureRule
    checker: Checker
    #: the looks' recent times (:class:`~captureguard.core.second_look.LookTimes`, on the monotonic
    #: clock): a look that cannot fit what is left of a check's deadline is not started
    times: LookTimes = field(default_factory=LookTimes, compare=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)
    _runner: list[DeadlineRunner[tuple[CropRead, Frame, tuple[int, int, int, int]], Inspection]] = field(
        default_factory=list, compare=False, repr=False
    )

    def fastest_ms(self) -> float | None:
        """The fastest recent look's time (None: no recent look timed)."""
        with self._lock:
            return self.times.fastest(time.monotonic())

    def read(
        self, read: CropRead, frame: Frame, window: tuple[int, int, int, int], *, within_ms: float | None
    ) -> Inspection:
        """``read(frame, window)`` (the look), timed; within ``within_ms`` (None: no limit) on a
        worker thread of its own.

        Raises:
            DeadlineExceededError: the look ran past ``within_ms`` (it is abandoned; its time is
                recorded when it ends).
        """
        if within_ms is None:
            return self._timed((read, frame, window))
        with self._lock:
            if not self._runner:
                self._runner.append(DeadlineRunner(self._timed, deadline_s=None, name="captureguard-second-look"))
            runner = self._runner[0]
        return runner.run((read, frame, window), deadline_s=within_ms / 1e3)

    def _timed(self, job: tuple[CropRead, Frame, tuple[int, int, int, int]]) -> Inspection:
        read, frame, window = job
        t0 = time.perf_counter()
        inner = read(frame, window)
        with self._lock:
            self.times.record(time.monotonic(), (time.perf_counter() - t0) * 1e3)
        return inner

    def close(self) -> None:
        """Stop the look's worker thread, if it has one."""
        with self._lock:
            runners, self._runner[:] = list(self._runner), []
        for runner in runners:
            runner.close()


@dataclass
class Checker:
    """Checks frames with a set of detectors, a fusion model and a policy profile.

    Args:
        detectors: region detectors and/or whole-image classifiers.
        fusion: the fusion model.
        profile: the policy profile.
        deadline_s: a check that takes longer blocks with reason ``timeout`` (None: no limit).
        first: a cheap first stage (the live cascade); None: every check runs ``detectors``.
        either: the detectors whose evidence ``fusion.either``'s head reads (the photo check since
            v2.9 reads the live set's too), the same objects as in ``detectors`` where configured
            alike; run side by side with them on every check.
        picture: the second look (the live check since v2.10): another check run on the located
            picture's crop of a whole frame, joined by :func:`~captureguard.core.second_look.second_look`.
        hands: the hand pass (:mod:`captureguard.core.hands`): a whole frame the check did not allow
            is checked again with the hands found in it painted out, and allowed when that check
            clearly allows it (:meth:`explain_hands`).
    """

    detectors: Sequence[Detector]
    fusion: FusionModel
    profile: Profile
    deadline_s: float | None = None
    first: FirstStage | None = None
    either: Sequence[Detector] = ()
    picture: PictureCheck | None = None
    #: ``(threads, config, detector)`` of every detector :meth:`create` built or reused for this
    #: checker, for another checker to reuse (:meth:`create`'s ``reuse``)
    built: tuple[tuple[int, Mapping[str, object], Detector], ...] = field(default=(), repr=False, compare=False)
    hands: HandFinder | None = None
    _find_ms: float = field(default=0.0, init=False, repr=False)  # the hand models' last time
    _checks: int = field(default=0, init=False, repr=False)
    _run_ahead: bool = field(default=False, init=False, repr=False)  # the last first stage escalated
    _deadline_runner: DeadlineRunner[tuple[Frame, Box | None, float | None], Inspection] | None = field(
        default=None, init=False, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    #: id of a detector with a picture locator -> its copy that does not run it (region checks, :meth:`_view`)
    _no_locator: dict[int, Detector] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def create(
        cls,
        *,
        profile: str = "child",
        mode: Mode = "photo",
        profiles_path: str | Path | None = None,
        detectors_path: str | Path | None = None,
        fusion_path: str | Path | None = None,
        deadline_s: float | None = None,
        threads: int = 2,
        reuse: Checker | None = None,
        second_look: bool = True,
        people_input: int = 0,
    ) -> Checker:
        """Build the shipped configuration for ``mode`` (``photo``: thorough, ``live``: fast).

        A detector configured alike in two places (the cascade's first stage and the full set; the
        photo and live sets of the photo check; with ``reuse``, this checker and that one: the web
        server's photo and live checks) is one object, built once: its models are loaded once, and
        within a check it runs once. Detectors are safe to call from several checks at once.
        A ``[mode.hands]`` table adds the hand pass (:meth:`explain_hands`; MediaPipe's hand models,
        built by ``make hand-models``). A ``[mode.picture_check]`` table adds the second look
        (:class:`PictureCheck`; not with ``second_look=False``): that mode's checker, built the same
        way and sharing detectors.
        ``people_input`` (0: as configured): ``mode``'s own person detectors (its ``nsfw_probe``
        with people) read at this input size instead (the second look's ``people_input``).

        Raises:
            ConfigError: unknown profile or invalid configuration files.
            ModelMissingError: a model package is not installed.
        """
        profiles = load_profiles(profiles_path)
        if profile not in profiles:
            raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(profiles)}")
        configs = load_detector_configs(detectors_path)
        if mode not in configs:
            raise ConfigError(f"no [{mode}] detectors configured; found {sorted(configs)}")
        if people_input:
            configs[mode] = [with_people_input(c, people_input) for c in configs[mode]]
        first = None
        pool = list(reuse.built) if reuse is not None else []

        def make(config: Mapping[str, object]) -> Detector:
            """The detector of ``config``: one built alike before (here or in ``reuse``), else a new one."""
            old = next((d for t, c, d in pool if t == threads and c == config), None)
            if old is not None:
                return old
            new = build_detector(config, threads=threads)
            pool.append((threads, config, new))
            return new

        fusion = FusionModel.load(fusion_path, mode=mode)
        _require_scene_probe(fusion, configs[mode], mode)
        if f"{mode}_first" in configs and fusion_path is None:
            head = FusionModel.load(mode=f"{mode}_first")
            _require_scene_probe(head, configs[f"{mode}_first"], f"{mode}_first")
            cascade = head.extra.get("cascade") or {}
            first = FirstStage(
                [make(c) for c in configs[f"{mode}_first"]],
                head,
                float(cascade.get("escalate_at", 0.0)),
                int(cascade.get("every", 0)),
            )
        # a full-set detector configured like a first-stage one is that same object: an escalated
        # check reuses its detections instead of running it twice
        detectors = [make(c) for c in configs[mode]]
        _require_probes(fusion, detectors, mode)
        if first is not None:
            _require_probes(first.fusion, first.detectors, f"{mode}_first")
        either: list[Detector] = []
        if fusion.either is not None:
            table = fusion.either.mode
            other = configs.get(table)
            if other is None and detectors_path is not None:  # a file of one table: the shipped other
                other = load_detector_configs().get(table)
                log.info(
                    "[%s]: %s has no [%s] table; the head's %s half reads the shipped one",
                    mode,
                    detectors_path,
                    table,
                    table,
                )
            if other is None:
                raise ConfigError(
                    f"[{mode}]: the head ({fusion.version}) also reads the [{table}] detectors: none configured"
                )
            if first is not None:
                raise ConfigError(f"[{mode}]: a head that reads the [{table}] detectors cannot have a cascade")
            either = [make(c) for c in other]
            _require_probes(fusion.either.head, either, table)
        rule = load_picture_checks(detectors_path).get(mode) if second_look else None
        picture = None
        if rule is not None:
            own = cls(detectors, fusion, profiles[profile], either=either, built=tuple(pool))
            picture = cls._picture_check(
                rule, own, mode=mode, profile=profile, paths=(profiles_path, detectors_path), threads=threads
            )
            pool = list(picture.checker.built)
        hands = _hand_pass(detectors_path, mode, threads)
        checker = cls(detectors, fusion, profiles[profile], deadline_s, first, either, picture, tuple(pool), hands)
        checker.warm_up()
        return checker

    @classmethod
    def _picture_check(
        cls,
        rule: PictureRule,
        own: Checker,
        *,
        mode: str,
        profile: str,
        paths: tuple[str | Path | None, str | Path | None],
        threads: int,
    ) -> PictureCheck:
        """The second look of :meth:`create`'s ``mode`` check ``own`` (its detectors, head and
        profile; no cascade, no look of its own) under ``rule``: ``own`` itself when the rule names
        ``mode`` (its full set on the crop), else the rule's mode built like any check, sharing
        ``own``'s detectors, its people read at the rule's ``people_input``. ``paths``: :meth:`create`'s
        profiles and detectors files.

        Raises:
            ConfigError: ``people_input`` on a rule of ``mode`` itself (its people are ``own``'s).
        """
        if rule.mode == mode:  # its own full set on the crop: no cascade, no third look
            if rule.people_input:
                raise ConfigError(
                    f"[{mode}.picture_check]: people_input applies to another table's check, not [{mode}]'s own"
                )
            return PictureCheck(rule, own)
        inner = cls.create(
            profile=profile,
            mode=rule.mode,  # type: ignore[arg-type]  # load_picture_checks: another table
            profiles_path=paths[0],
            detectors_path=paths[1],
            threads=threads,
            reuse=own,
            second_look=False,  # one look more, not a chain
            people_input=rule.people_input,
        )
        return PictureCheck(rule, inner)

    def warm_up(self) -> None:
        """Run every detector once on a small grey frame, so the first real check is not cold.

        onnxruntime allocates and plans on a session's first run (measured: the first 720p live
        check took over 0.5 s, the stream deadline, on a busy 2-core machine; later ones ~30 ms).
        A failure here is left for the first real check to report (and block).
        """
        grey = Frame.from_bgr(np.full((360, 640, 3), 128, np.uint8), source="warm-up")
        try:
            self.detect(grey, self._all())
            if self.first is not None:
                self.detect(grey, self.first.detectors)
        except Exception as exc:  # the first real check fails closed and logs it
            log.debug("warm-up failed: %r", exc)

    def detect(
        self,
        frame: Frame,
        detectors: Sequence[Detector] | None = None,
        *,
        stage: str = "",
        before: Detections | None = None,
    ) -> tuple[Detections, dict[str, float]]:
        """Run every detector (default: the full set) side by side (:meth:`side_by_side`; ``before``:
        what this check found already, for the detectors that read it); returns the joined
        detections (in detector order) and ms per detector."""
        dets = list(self.detectors if detectors is None else detectors)
        parts, ms = self.side_by_side(frame, dets, before)
        return Detections.concat(parts), {f"detect:{d.name}{stage}": m for d, m in zip(dets, ms, strict=True)}

    def _all(self) -> list[Detector]:
        """The full set, then :attr:`either`'s detectors that are not in it."""
        return [*self.detectors, *(d for d in self.either if not any(d is x for x in self.detectors))]

    def evidence(self, frame: Frame) -> tuple[Assessment, Detections, dict[str, float]]:
        """Run every detector of the full set (and :attr:`either`'s) on ``frame`` and fuse: ``(the
        assessment, every detection, ms per detector)``. No cascade, no policy: what an evaluation
        records."""
        found, other, shown, timings = self._detect_all(frame, whole=True)
        return self.fusion.assess(found, other), shown, timings

    def _detect_all(
        self, frame: Frame, *, whole: bool
    ) -> tuple[Detections, Detections | None, Detections, dict[str, float]]:
        """The full set's detections, :attr:`either`'s (None without), all of them, ms per detector."""
        dets = self._all()
        parts, ms = self.side_by_side(frame, self._view(dets, whole=whole))
        of = {id(d): p for d, p in zip(dets, parts, strict=True)}
        found = Detections.concat([of[id(d)] for d in self.detectors])
        other = Detections.concat([of[id(d)] for d in self.either]) if self.either else None
        # the either set's own detectors are timed under their table's name: both sets may hold a
        # detector of one name (the photo and live nsfw_probe)
        tag = f"({self.fusion.either.mode})" if self.fusion.either is not None else "(either)"
        n = len(self.detectors)
        timings = {f"detect:{d.name}{'' if i < n else tag}": m for i, (d, m) in enumerate(zip(dets, ms, strict=True))}
        return found, other, Detections.concat(parts), timings

    @staticmethod
    def side_by_side(
        frame: Frame, dets: Sequence[Detector], before: Detections | None = None
    ) -> tuple[list[Detections], list[float]]:
        """Each detector's detections and ms, the detectors run side by side.

        Each detector after the first runs on a thread of its own (each has its own onnxruntime
        sessions), the first on the caller's; all are waited for. Measured on 2 cores (30 dev
        stills at 720p, NudeNet 640 + nsfw_probe): 86 -> 70-77 ms median for a full check. A
        detector that raises fails the check as before (the first failure in detector order is
        re-raised, BaseExceptions included); one that hangs holds the check until its deadline, as
        before.

        Detectors that read the others' detections (:func:`~captureguard.models.base.runs_after`:
        nsfwjs on the picture locator's crop) run next, side by side, on ``before`` (what this
        check found earlier, e.g. the cascade's first stage) plus what the others found now.
        """
        late = [runs_after(d) for d in dets]
        parts: list[Detections] = [Detections.empty()] * len(dets)
        ms = [0.0] * len(dets)
        now = [i for i, x in enumerate(late) if not x]
        got, took = _in_parallel([(dets[i].name, dets[i].detect) for i in now], frame)
        for i, found, m in zip(now, got, took, strict=True):
            parts[i], ms[i] = found, m
        then = [i for i, x in enumerate(late) if x]
        if then:
            seen = Detections.concat([before or Detections.empty(), *got])
            jobs = [(dets[i].name, partial(_detect_after, dets[i], found=seen)) for i in then]
            got, took = _in_parallel(jobs, frame)
            for i, found, m in zip(then, got, took, strict=True):
                parts[i], ms[i] = found, m
        return parts, ms

    @property
    def block_score(self) -> float:
        """The fused score at or above which this checker blocks (the profile's)."""
        return self.profile.block_score

    @property
    def region_labels(self) -> frozenset[str]:
        """Region labels that block (whose boxes a stream guard follows after a block)."""
        return frozenset(self.profile.class_thresholds) or frozenset(DEFAULT_BLOCK_CLASSES)

    def check(self, frame: Frame) -> Verdict:
        """Decide about one frame. Never raises for detection failures: they block."""
        return self.inspect(frame).verdict

    def inspect(self, frame: Frame, *, region: Box | None = None, within_ms: float | None = None) -> Inspection:
        """Decide about ``frame`` (or only the crop ``region`` of it, in frame pixels) and say why.

        The crop is checked like a frame of its own (at the detectors' full input size); its
        detections are returned in the whole frame's pixels. ``within_ms``: the deadline the caller
        holds this check to (a stream guard's; default this checker's ``deadline_s``), which a second
        look under ``late = "withhold"`` must fit (:meth:`PictureRule.time_left`). Never raises:
        failures block.
        """
        t0 = time.perf_counter()
        if within_ms is None and self.deadline_s is not None:
            within_ms = self.deadline_s * 1e3
        try:
            found = self._runner().run((frame, region, within_ms))
        except DeadlineExceededError as exc:
            log.warning("check of %s blocked: %s", frame.source or "frame", exc)
            found = self._failed(Verdict.failure("timeout", f"check {exc}", profile=self.profile.name), region)
        except Exception as exc:  # fail closed on anything, including bugs
            log.error(
                "check of %s failed, blocked: %s",
                frame.source or "frame",
                exc,
                exc_info=not isinstance(exc, CaptureGuardError),
            )
            failure = Verdict.failure("error", f"{type(exc).__name__}: {exc}", profile=self.profile.name)
            found = self._failed(failure, region)
        except BaseException as exc:
            # Found by the fault matrix: a BaseException (not an Exception) raised on the deadline
            # worker's thread was re-raised here, so /v1/check answered 500 instead of a block. It
            # is that thread's failure, not the caller's: block. Run inline (no deadline), it is the
            # caller's own (Ctrl-C...), so it propagates.
            if self.deadline_s is None:
                raise
            log.error("check of %s failed, blocked: the check's thread died (%r)", frame.source or "frame", exc)
            failure = Verdict.failure("error", f"{type(exc).__name__}: {exc}", profile=self.profile.name)
            found = self._failed(failure, region)
        verdict = found.verdict.with_timings(total=(time.perf_counter() - t0) * 1e3)
        return Inspection(verdict, found.detections, region)

    @staticmethod
    def _failed(verdict: Verdict, region: Box | None) -> Inspection:
        return Inspection(verdict, Detections.empty(), region)

    def _inspect(self, job: tuple[Frame, Box | None, float | None]) -> Inspection:
        frame, region, within_ms = job
        t0 = time.perf_counter()
        seen = self._looked(frame, region, within_ms)
        if self.hands is None or region is not None:
            return seen
        return self.explain_hands(frame, seen, spent_ms=(time.perf_counter() - t0) * 1e3, budget_ms=within_ms)

    def _looked(self, frame: Frame, region: Box | None, within_ms: float | None) -> Inspection:
        """This checker's look at ``frame`` (or ``region`` of it) and, on a whole frame, its second look."""
        t0 = time.perf_counter()
        seen = self._look((frame, region))
        if self.picture is None or region is not None or seen.verdict.failed:
            return seen
        return self.look_again(frame, seen, spent_ms=(time.perf_counter() - t0) * 1e3, budget_ms=within_ms)

    def explain_hands(
        self,
        frame: Frame,
        seen: Inspection,
        *,
        recheck: Callable[[Frame, float | None], Inspection] | None = None,
        spent_ms: float | None = None,
        budget_ms: float | None = None,
    ) -> Inspection:
        """The hand pass after ``seen`` (this checker's inspection of the whole ``frame``, second
        look included): when ``seen`` did not allow the frame, the hands in it are found
        (:attr:`hands`), painted out with a strip along each forearm (never inside a picture the
        check located, ``PICTURE_OUTER``: a hand in a painting held up to the camera is part of
        what is judged; unless the hand's paint covers most of that "picture": then it is the hand
        itself, :attr:`HandRule.picture_is_hand`), and the painted frame is checked again
        (``recheck(painted, within_ms)``, default this checker's own look and second look). When
        that check clearly allows it (:meth:`~captureguard.core.hands.HandRule.explains`) the frame
        is allowed with reason ``HANDS_EXPLAINED`` (:func:`~captureguard.core.hands.explained`);
        otherwise ``seen`` stands.
        The frame released is always the camera's own: the painted copy is only checked.

        Fail closed: a failed check, no hand, a hand pass that fails (logged) or one that would not
        fit ``budget_ms`` (the check's deadline, with ``spent_ms`` spent: :meth:`HandRule.fits`)
        leave ``seen`` as it was, not allowed. Never raises."""
        if self.hands is None or seen.verdict.decision is Decision.ALLOW or seen.verdict.failed:
            return seen
        spent = seen.verdict.timings_ms.get("total", 0.0) if spent_ms is None else spent_ms
        if not self.hands.rule.fits(spent, budget_ms, self._find_ms):
            return seen
        t0 = time.perf_counter()
        try:
            found = self.hands.find(frame.bgr)
            self._find_ms = (time.perf_counter() - t0) * 1e3
            if not found:
                return Inspection(seen.verdict.with_timings(**{HANDS_TIMING: self._find_ms}), seen.detections, None)
            # a located picture is content, its painted hands too: never painted out, unless it is
            # mostly the hand itself (the locator firing on its skin: HandRule.picture_is_hand)
            keep = seen.detections.with_label(PICTURE_OUTER).xyxy
            done = self.hands.paint_out(frame.bgr, found, keep=keep)
        except Exception as exc:  # the flag stands: the frame stays withheld
            log.warning("hand pass of %s failed, its verdict stands: %s", frame.source or "frame", exc)
            return seen
        if done.share <= 0.0:  # every hand inside a located picture
            ms = (time.perf_counter() - t0) * 1e3
            return Inspection(seen.verdict.with_timings(**{HANDS_TIMING: ms}), seen.detections, None)
        painted = Frame.from_bgr(
            done.pixels, index=frame.index, timestamp_s=frame.timestamp_s, source=f"{frame.source}#hands-painted-out"
        )
        left = None if budget_ms is None else budget_ms - spent - (time.perf_counter() - t0) * 1e3
        again = recheck(painted, left) if recheck is not None else self._looked(painted, None, left)
        ms = (time.perf_counter() - t0) * 1e3
        if not self.hands.rule.explains(again.verdict, self.profile):
            return Inspection(seen.verdict.with_timings(**{HANDS_TIMING: ms}), seen.detections, None)
        verdict = explained(seen.verdict, again.verdict, len(found), done.share, self.profile, pictures=done.pictures)
        return Inspection(
            verdict.with_timings(**{HANDS_TIMING: ms}),
            Detections.concat([again.detections, hand_detections(found)]),
            None,
        )

    def look_again(
        self,
        frame: Frame,
        seen: Inspection,
        rule: PictureRule | None = None,
        *,
        crop_check: Callable[[Frame, tuple[int, int, int, int]], Inspection] | None = None,
        spent_ms: float | None = None,
        budget_ms: float | None = None,
    ) -> Inspection:
        """The second look after ``seen`` (this checker's inspection of the whole ``frame``): the
        :attr:`picture` check on the located picture's crop when ``rule`` (default the configured
        one) wants it, joined with ``seen``; ``seen`` itself otherwise. ``crop_check``: what checks
        the crop (default :meth:`picture_inspection`; a benchmark's memo). ``spent_ms``: the time
        ``seen`` took (default its recorded ``total``), which with the first crop's recorded time
        decides whether a tighter crop fits the rule's ``refine_within_ms`` (when it does not, the
        verdict's timings carry ``SKIPPED_TIGHTER``: the estimate). ``budget_ms``: the check's
        deadline (None: none). Under the rule's ``late = "withhold"`` the look is held to what is
        left of it (:meth:`PictureRule.time_left`) and not started when the recent looks say it
        cannot fit; either way the frame is withheld as a warn (:func:`withheld_late`). Under
        ``late = "run"`` (shipped) it runs regardless. Never raises: the inner check blocks on failure."""
        if self.picture is None:
            return seen
        rule = rule or self.picture.rule
        crop = self.picture_crop(frame, seen)
        if crop is None or not rule.wants(seen.verdict, crop[1]):
            return seen
        window, share = crop
        spent = seen.verdict.timings_ms.get("total", 0.0) if spent_ms is None else spent_ms
        left = rule.time_left(spent, budget_ms)
        read = crop_check or self.picture_inspection
        try:
            if not rule.may_start(left, self.picture.fastest_ms()):
                raise DeadlineExceededError("no time left for the second look")
            inner = self.picture.read(read, frame, window, within_ms=left)
        except DeadlineExceededError:
            if left is None:  # no limit: the look itself timed out (it never does: the inner check blocks)
                raise
            late = withheld_late(seen.verdict, rule, self.profile, share=share, left_ms=max(0.0, left))
            return Inspection(late, seen.detections, None)
        verdict = join_looks(seen.verdict, inner.verdict, rule, self.profile, share=share)
        found = [seen.detections, shifted(inner.detections, window[0], window[1])]
        tighter = self.tighter_crop(frame, window, inner) if rule.refine > 0 and not inner.verdict.failed else None
        if tighter is not None and rule.refines(verdict, tighter[1]):  # the picture found in the crop
            crop_ms = inner.verdict.timings_ms.get("total", 0.0)  # unknown: read it (a look more)
            if not rule.refine_fits(spent, crop_ms):  # the first look's verdict stands
                late = verdict.with_timings(**{SKIPPED_TIGHTER: rule.refine_estimate(spent, crop_ms)})
                return Inspection(late, Detections.concat(found), None)
            inner = read(frame, tighter[0])
            share = window_area(tighter[0]) / (frame.width * frame.height)
            verdict = join_looks(verdict, inner.verdict, rule, self.profile, share=share, stage="picture2")
            found.append(shifted(inner.detections, tighter[0][0], tighter[0][1]))
        return Inspection(verdict, Detections.concat(found), None)

    @staticmethod
    def tighter_crop(
        frame: Frame, window: tuple[int, int, int, int], inner: Inspection
    ) -> tuple[tuple[int, int, int, int], float] | None:
        """The picture the crop check located inside ``window`` (its ``PICTURE_OUTER`` box, in crop
        pixels) as slice bounds in ``frame``, and its share of the crop; None when it located none."""
        box = picture_box(inner.detections)
        if box is None:
            return None
        x0, y0 = window[:2]
        bounds = pixel_window(
            (box[0] + x0, box[1] + y0, box[2] + x0, box[3] + y0), width=frame.width, height=frame.height
        )
        return bounds, window_area(bounds) / max(1, window_area(window))

    @staticmethod
    def picture_crop(frame: Frame, seen: Inspection) -> tuple[tuple[int, int, int, int], float] | None:
        """The located picture's outer box in ``seen`` (``core.region.picture_box``) as slice bounds in
        ``frame`` and its share of the frame; None when no picture was located."""
        box = picture_box(seen.detections)
        if box is None:
            return None
        window = pixel_window(box, width=frame.width, height=frame.height)
        return window, window_area(window) / (frame.width * frame.height)

    def picture_inspection(
        self, frame: Frame, window: tuple[int, int, int, int], *, inner: Checker | None = None
    ) -> Inspection:
        """The :attr:`picture` check (or ``inner``: a benchmark comparing checks) of the crop
        ``window`` of ``frame`` (crop pixels)."""
        if inner is None and self.picture is not None:
            inner = self.picture.checker
        if inner is None:
            raise ValueError("this checker has no picture check")
        x0, y0, x1, y1 = window
        crop = Frame.from_bgr(
            frame.bgr[y0:y1, x0:x1], index=frame.index, timestamp_s=frame.timestamp_s, source=frame.source
        )
        return inner.inspect(crop)

    def _look(self, job: tuple[Frame, Box | None]) -> Inspection:
        """This checker's own inspection of ``job`` (no second look)."""
        frame, region = job
        dx = dy = 0
        if region is not None:
            x0, y0, x1, y1 = pixel_window(region, width=frame.width, height=frame.height)
            frame = Frame.from_bgr(
                frame.bgr[y0:y1, x0:x1], index=frame.index, timestamp_s=frame.timestamp_s, source=frame.source
            )
            dx, dy = x0, y0
        found, ahead, timings, settled = self._first_stage(frame, whole=region is None)
        if settled and found is not None and self.first is not None:
            return self._decided(self.first.fusion, found, None, timings, region=region, offset=(dx, dy))
        if self.either:  # two heads on their own detector sets (no cascade: Checker.create)
            found, other, shown, full = self._detect_all(frame, whole=region is None)
            return self._decided(self.fusion, found, other, timings | full, region=region, offset=(dx, dy), shown=shown)
        # escalated: the full set; when every first-stage detector is also in the full set (the
        # same object), what they found is reused instead of run twice (and the rest may already
        # have run alongside the first stage)
        reuse = found is not None and self._first_is_shared()
        if ahead is None:
            todo = self._view(self._rest() if reuse else self.detectors, whole=region is None)
            ahead, full = self.detect(frame, todo, before=found if reuse else None)
            timings.update(full)
        elif found is not None and (late := [d for d in self._rest() if runs_after(d)]):
            # the rest ran ahead, beside the first stage, but not the detectors that read their detections
            extra, full = self.detect(
                frame, self._view(late, whole=region is None), before=Detections.concat([found, ahead])
            )
            ahead = Detections.concat([ahead, extra])
            timings.update(full)
        found = Detections.concat([found, ahead]) if reuse and found is not None else ahead
        return self._decided(self.fusion, found, None, timings, region=region, offset=(dx, dy))

    def _decided(
        self,
        head: FusionModel,
        found: Detections,
        other: Detections | None,
        timings: dict[str, float],
        *,
        region: Box | None,
        offset: tuple[int, int],
        shown: Detections | None = None,
    ) -> Inspection:
        """``head``'s verdict on ``found`` (and ``other``, its either set's) under the profile, timed;
        the inspection shows ``shown`` (default ``found``), moved by ``offset`` for a region check."""
        t0 = time.perf_counter()
        verdict = decide(head.assess(found, other), self.profile)
        timings["fuse+decide"] = (time.perf_counter() - t0) * 1e3
        seen = found if shown is None else shown
        return Inspection(verdict.with_timings(**timings), shifted(seen, *offset) if region else seen, region)

    def _first_is_shared(self) -> bool:
        return self.first is not None and all(any(f is d for d in self.detectors) for f in self.first.detectors)

    def _rest(self) -> list[Detector]:
        """The full set's detectors that the first stage does not run (in the full set's order)."""
        first = self.first.detectors if self.first is not None else ()
        return [d for d in self.detectors if not any(d is f for f in first)]

    def _view(self, dets: Sequence[Detector], *, whole: bool) -> list[Detector]:
        """The detectors a check runs: ``dets`` as they are for a whole frame; for a region check,
        each with a picture locator replaced by a copy that does not run it (``locate`` off: same
        models and probes, cached; a three-block probe reads the whole crop in the outer crop's place).

        A region check (the stream guard following the evidence of a block) already reads a crop
        around that evidence. The locator is fitted on whole camera frames with pictures at 10-50%
        of them; inside such a crop it zooms further into texture: measured on the stream test's
        cat photo, crops scored 0.32 and 0.56 with it and 0.19 and 0.16 without, and kept a clip
        shut (tests/test_leaks.py).
        """
        if whole:
            return list(dets)
        out = []
        for d in dets:
            if isinstance(d, NsfwProbeDetector) and d.locator is not None:
                if id(d) not in self._no_locator:
                    self._no_locator[id(d)] = replace(d, locate=False)
                out.append(self._no_locator[id(d)])
            else:
                out.append(d)
        return out

    def _first_stage(
        self, frame: Frame, *, whole: bool = True
    ) -> tuple[Detections | None, Detections | None, dict[str, float], bool]:
        """The cascade's first stage: ``(its detections, the rest's detections if they ran
        alongside, timings, settled)``; settled when its score is below ``escalate_at`` (no
        scheduled full check). None when it did not run.

        Run ahead: after a check the first stage escalated, the rest of the full set runs alongside
        the next first stage (side by side on the two cores) instead of after it, since in video
        an escalation tends to follow an escalation (a nude painting stays in view). The verdict is
        the same either way (the same detectors on the same frame); a check that then settles has
        spent the rest's CPU for nothing.
        """
        if self.first is None:
            return None, None, {}, False
        self._checks += 1  # a lost increment under concurrent checks only shifts the schedule
        if self.first.every and self._checks % self.first.every == 0:
            return None, None, {}, False
        first = list(self.first.detectors)
        ahead = self.first.run_ahead and self._run_ahead and self._first_is_shared()
        # detectors that read this check's detections cannot run ahead of them (:meth:`_inspect`)
        rest = [d for d in self._rest() if not runs_after(d)] if ahead else []
        parts, ms = self.side_by_side(frame, self._view([*first, *rest], whole=whole))
        n = len(first)
        timings = {f"detect:{d.name}(first)": m for d, m in zip(first, ms[:n], strict=True)}
        timings |= {f"detect:{d.name}(ahead)": m for d, m in zip(rest, ms[n:], strict=True)}
        found = Detections.concat(parts[:n])
        settled = self.first.fusion.assess(found).score < self.first.escalate_at
        self._run_ahead = not settled  # a lost update under concurrent checks only costs time
        return found, Detections.concat(parts[n:]) if rest else None, timings, settled

    def _runner(self) -> DeadlineRunner[tuple[Frame, Box | None, float | None], Inspection]:
        with self._lock:
            if self._deadline_runner is None:
                self._deadline_runner = DeadlineRunner(self._inspect, deadline_s=self.deadline_s)
            return self._deadline_runner

    def close(self) -> None:
        """Stop the deadline workers, the second look's too (a hung check is abandoned, not waited for)."""
        with self._lock:
            if self._deadline_runner is not None:
                self._deadline_runner.close()
                self._deadline_runner = None
        if self.picture is not None:
            self.picture.close()
