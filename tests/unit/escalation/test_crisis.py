"""The crisis detector: a spike opens one incident grouping its cases, quiet traffic stays
quiet, a rate near the threshold does not flap (hysteresis), and a detector resumed from
its snapshot counts nothing twice."""

from __future__ import annotations

import random

import pytest

from socialcare.core.domain.crisis_config import CrisisConfig
from socialcare.escalation.crisis import CrisisDetector, Signal
from socialcare.v1 import incident_pb2

OPENED = incident_pb2.INCIDENT_EVENT_TYPE_OPENED
UPDATED = incident_pb2.INCIDENT_EVENT_TYPE_UPDATED
CLOSED = incident_pb2.INCIDENT_EVENT_TYPE_CLOSED
T0 = 1_790_000_000.0  # a Unix time; minutes are counted from it
KEY = ("acme", "outage", "nl")


def config(**overrides: object) -> CrisisConfig:
    return CrisisConfig.model_validate(
        {"topics": [{"name": "outage", "keywords": ["storing", "outage"]}], **overrides}
    )


class Feed:
    """Signals for one detector, numbered so every id is new unless reused on purpose."""

    def __init__(self, detector: CrisisDetector, *, warm: bool = True) -> None:
        self.detector = detector
        self.n = 0
        self.events: list[incident_pb2.IncidentEvent] = []
        if warm:  # the detector has seen quiet hours: past its warm-up
            self.send(T0 - 2 * 3600, negative=False)

    def send(self, at: float, *, negative: bool = True, case: str | None = None) -> None:
        self.n += 1
        self.events += self.detector.observe(
            Signal(f"m{self.n}", *KEY, negative=negative, case_id=case or f"c{self.n}", at=at)
        )

    def background(self, start: float, minutes: int, per_minute: float, seed: int = 1) -> None:
        """Negatives at a steady Poisson rate, ticking every minute."""
        rand = random.Random(seed)
        for minute in range(minutes):
            base = start + minute * 60
            count = _poisson(rand, per_minute)
            for i in range(count):
                self.send(base + (i + 0.5) * 60 / (count + 1))
            self.events += self.detector.tick(base + 59)

    def kinds(self) -> list[int]:
        return [e.type for e in self.events]


def _poisson(rand: random.Random, lam: float) -> int:
    count, threshold, product = 0, pow(2.718281828459045, -lam), rand.random()
    while product > threshold:
        count += 1
        product *= rand.random()
    return count


def test_quiet_traffic_opens_nothing() -> None:
    feed = Feed(CrisisDetector(config()))
    feed.background(T0, 6 * 60, per_minute=0.2)  # ~3 per 15 min, under min_volume
    assert feed.events == []


def test_a_spike_opens_one_incident_grouping_its_cases_then_closes() -> None:
    feed = Feed(CrisisDetector(config()))
    feed.background(T0, 120, per_minute=0.2)
    spike = T0 + 120 * 60
    for i in range(40):  # 40 negatives in 4 minutes
        feed.send(spike + i * 6)
    opened = [e for e in feed.events if e.type == OPENED]
    assert len(opened) == 1
    incident = opened[0].incident
    assert (incident.brand, incident.topic, incident.language) == KEY
    assert incident.status == incident_pb2.INCIDENT_STATUS_OPEN
    assert incident.case_count >= 10 and len(incident.case_ids) == incident.case_count
    assert "outage" in incident.summary and "acme" in incident.summary
    assert [e.type for e in feed.events].count(UPDATED) >= 1  # more cases joined
    # Back to normal: closes once, after the cooldown, and never re-opens.
    feed.events.clear()
    feed.background(spike + 5 * 60, 120, per_minute=0.2, seed=2)
    assert [k for k in feed.kinds() if k != UPDATED] == [CLOSED]  # cases kept joining
    assert feed.kinds()[-1] == CLOSED
    closed = feed.events[-1]
    assert closed.incident.id == incident.id
    assert closed.incident.status == incident_pb2.INCIDENT_STATUS_CLOSED
    assert closed.incident.revision > incident.revision
    closed_at = closed.occurred_at.seconds
    assert closed_at - (spike + 4 * 60) >= 1800  # the cooldown


def test_events_have_ids_derived_from_incident_and_revision() -> None:
    def run() -> list[str]:
        feed = Feed(CrisisDetector(config()))
        for i in range(30):
            feed.send(T0 + i * 10)
        feed.events += feed.detector.tick(T0 + 4 * 3600)
        return [e.event_id for e in feed.events]

    first = run()
    assert len(first) == len(set(first)) >= 2
    assert run() == first


def test_nothing_opens_during_the_first_hour() -> None:
    feed = Feed(CrisisDetector(config()), warm=False)
    feed.send(T0, negative=False)  # the first message the detector ever sees
    for i in range(50):
        feed.send(T0 + 600 + i * 6)
    assert feed.events == []  # ten minutes of history is no baseline
    for i in range(50):
        feed.send(T0 + 7200 + i * 6)
    assert [k for k in feed.kinds() if k != UPDATED] == [OPENED]


def test_the_same_time_yesterday_raises_the_bar_for_a_daily_peak() -> None:
    detector = CrisisDetector(config())
    feed = Feed(detector)
    # Yesterday 12:00-18:00 were busy (1.5 a minute), the rest of the day 0.1 a minute.
    for hour in range(24):
        feed.background(T0 + hour * 3600, 60, per_minute=1.5 if 12 <= hour < 18 else 0.1, seed=hour)
    kinds = [k for k in feed.kinds() if k != UPDATED]
    feed.events.clear()
    # Today's peak at the same time is normal: no incident, though the 24 h mean is low.
    feed.background(T0 + 86400 + 14 * 3600, 60, per_minute=1.5, seed=99)
    assert OPENED not in feed.kinds()
    assert kinds.count(OPENED) <= 1  # yesterday's first peak was news (no history then)
    assert detector.baseline(KEY, T0 + 86400 + 15 * 3600) == pytest.approx(22.5, rel=0.3)


def test_a_signal_seen_again_is_counted_once() -> None:
    detector = CrisisDetector(config())
    Feed(detector)  # warmed up
    events = []
    for _ in range(50):  # one message redelivered fifty times
        events += detector.observe(Signal("same", *KEY, negative=True, case_id="c", at=T0 + 5))
    assert events == []


def test_positive_and_other_key_messages_do_not_count() -> None:
    feed = Feed(CrisisDetector(config()))
    for i in range(40):
        feed.send(T0 + i * 5, negative=False)
    assert feed.events == []


def test_hysteresis_a_rate_between_close_and_open_keeps_the_incident_open() -> None:
    feed = Feed(CrisisDetector(config()))
    for i in range(20):
        feed.send(T0 + i * 3)  # opens on min_volume (no baseline yet)
    assert feed.kinds().count(OPENED) == 1
    feed.events.clear()
    # The baseline floor is min_volume/factor = 3.33 per window: close level 5 per window.
    # Seven per 15 minutes is under the open level but above the close level: stays open.
    feed.background(T0 + 60, 3 * 60, per_minute=7 / 15, seed=5)
    assert CLOSED not in feed.kinds()
    assert OPENED not in feed.kinds()
    # Then quiet: closes after the cooldown.
    feed.events += feed.detector.tick(T0 + 4 * 3600)
    feed.events += feed.detector.tick(T0 + 4 * 3600 + 1801)
    assert feed.kinds().count(CLOSED) == 1


def test_baseline_excludes_the_incident_so_a_long_crisis_stays_one_incident() -> None:
    detector = CrisisDetector(config())
    feed = Feed(detector, warm=False)
    feed.background(T0, 24 * 60, per_minute=0.4)  # a day of normal traffic
    assert feed.events == []
    normal = detector.baseline(KEY, T0 + 24 * 3600)
    feed.background(T0 + 24 * 3600, 180, per_minute=4.0, seed=9)  # three hours of crisis
    assert feed.kinds().count(OPENED) == 1
    assert CLOSED not in feed.kinds()
    # The crisis minutes are not part of the baseline.
    assert normal is not None and normal > 5  # above the floor: a real baseline
    assert detector.baseline(KEY, T0 + 27 * 3600) == pytest.approx(normal, rel=0.2)


def test_per_brand_override_applies() -> None:
    strict = config(brands=[{"brand": "acme", "min_volume": 30}])
    feed = Feed(CrisisDetector(strict))
    for i in range(20):
        feed.send(T0 + i * 3)
    assert feed.events == []  # 20 < 30


def test_restart_from_snapshot_resumes_without_double_counting() -> None:
    cfg = config()
    uninterrupted = Feed(CrisisDetector(cfg))
    resumed = Feed(CrisisDetector(cfg))
    times = [T0 + i * 20 for i in range(9)]
    for at in times:
        uninterrupted.send(at)
        resumed.send(at)
    restored = CrisisDetector.from_bytes(cfg, resumed.detector.to_bytes())
    resumed.detector = restored
    # The same message arriving again after the restart is not counted again...
    resumed.n -= 1
    resumed.send(times[-1])
    assert resumed.events == []
    # ...and the next one opens, exactly as without the restart (same ids too).
    uninterrupted.send(T0 + 200)
    resumed.send(T0 + 200)
    assert [e.event_id for e in resumed.events] == [e.event_id for e in uninterrupted.events]
    assert resumed.kinds() == [OPENED]


def test_snapshot_roundtrip_keeps_an_open_incident() -> None:
    cfg = config()
    feed = Feed(CrisisDetector(cfg))
    for i in range(12):
        feed.send(T0 + i)
    restored = CrisisDetector.from_bytes(cfg, feed.detector.to_bytes())
    assert restored.open_incidents() == feed.detector.open_incidents() != []
    with pytest.raises(ValueError, match="not a crisis snapshot"):
        CrisisDetector.from_bytes(cfg, b"garbage")


def test_topic_classification_is_whole_word_and_case_insensitive() -> None:
    cfg = CrisisConfig.model_validate(
        {
            "topics": [
                {"name": "outage", "keywords": ["Storing", "app down"]},
                {"name": "recall", "keywords": ["recall"], "brands": ["other-brand"]},
            ]
        }
    )
    assert cfg.topic_of("acme", "Weer een STORING bij jullie!") == "outage"
    assert cfg.topic_of("acme", "the app down again?") == "outage"
    assert cfg.topic_of("acme", "verstoringen") == "other"  # not a whole word
    assert cfg.topic_of("acme", "is this a recall") == "other"  # another brand's topic
    assert cfg.topic_of("other-brand", "is this a recall") == "recall"


def test_an_incident_from_a_quiet_morning_closes_in_the_normal_afternoon_peak() -> None:
    feed = Feed(CrisisDetector(config()))
    busy = range(12, 18)  # every afternoon 1.5 a minute, else 0.1
    for hour in range(24):
        feed.background(T0 + hour * 3600, 60, per_minute=1.5 if hour in busy else 0.1, seed=hour)
    feed.events.clear()
    day2 = T0 + 86400
    feed.background(day2, 9 * 60, per_minute=0.1, seed=50)
    # 09:00-12:00 a complaint wave at 1 a minute: far above the quiet morning.
    feed.background(day2 + 9 * 3600, 3 * 60, per_minute=1.0, seed=51)
    assert [k for k in feed.kinds() if k != UPDATED] == [OPENED]
    feed.events.clear()
    # The usual afternoon (1.5 a minute) is above the morning's close level, but normal
    # for the time of day: the incident closes after its cooldown, and none opens.
    feed.background(day2 + 12 * 3600, 3 * 60, per_minute=1.5, seed=52)
    assert [k for k in feed.kinds() if k != UPDATED] == [CLOSED]
    [closed] = [e for e in feed.events if e.type == CLOSED]
    assert closed.occurred_at.seconds - (day2 + 12 * 3600) < 3600
