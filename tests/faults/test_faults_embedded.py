"""The fault suite on the embedded backends: `kill -9` of the whole platform, then count.

`socialcare run all` (every service in one process, the embedded log and search store in
its data dir) takes the workload's messages while this test kills it with SIGKILL at
seeded moments — twice while messages arrive, once while the agents' replies go out —
and starts it again on the same data dir each time. Nothing gets to shut down: whatever
was in memory (consumer positions not committed, timers, replies posted but not yet
recorded) is gone, and the restarted platform must rebuild it from the log.

Then the pipeline drains and the audit counts (`tests/faults/audit.py`): every accepted
message in exactly one case, every case assigned once, first responses met for the
answered cases and breached (once, and escalated) for the Dutch ones left unanswered,
every reply posted to the channel, every message in search. The table is printed and
written to `faults-embedded.txt` in the test's tmp dir.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from socialcare.core.bus.embedded import EmbeddedBus
from socialcare.core.search.embedded import EmbeddedSearchIndex
from tests.e2e.platform import Platform, make_platform
from tests.fakes.platforms import FakePlatforms
from tests.faults.audit import Evidence, Expectations, audit, collect, read_topics, settle
from tests.faults.conftest import faults_messages
from tests.faults.fake_channel import channel_log
from tests.faults.workload import CaseToAnswer, Driver, Replier, Workload

SEED = 14
OUTBOUND_CONCURRENCY = 4
"""The connectors' posting workers: the most replies one crash can leave posted but
unrecorded (one call in flight per worker, whatever the batch size; ADR 0006, addendum)."""
RESTART_TIMEOUT_S = 120.0


class Crashes:
    """Kills the platform with SIGKILL and starts it again on the same data dir, from a
    thread that watches a progress counter; `log` says when and where each crash hit."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.log: list[str] = []
        self.failures: list[BaseException] = []
        self.downtime_s = 0.0

    def crash(self, moment: str) -> None:
        process = self.platform.process
        assert process is not None and process.poll() is None, "the platform is not running"
        started = time.monotonic()
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        self.platform.start(timeout_s=RESTART_TIMEOUT_S)
        down = time.monotonic() - started
        self.downtime_s += down
        self.log.append(f"kill -9 {moment}; ready again after {down:.1f} s")

    @contextmanager
    def at(
        self, progress: Callable[[], int], marks: list[tuple[int, str]]
    ) -> Iterator[threading.Thread]:
        """While the body runs, crash once `progress()` reaches each mark (in order); on
        leaving, wait for the crashes under way."""
        done = threading.Event()

        def watch() -> None:
            try:
                for mark, moment in marks:
                    while progress() < mark:
                        if done.wait(0.05):
                            return
                    self.crash(f"{moment} (after {progress():,} settled)")
            except BaseException as exc:  # reported by the test, not lost in a thread
                self.failures.append(exc)

        thread = threading.Thread(target=watch, name="faults-crashes", daemon=True)
        thread.start()
        try:
            yield thread
        finally:
            done.set()
            thread.join(RESTART_TIMEOUT_S + 30)


def _cases_to_answer(bus: EmbeddedBus) -> list[CaseToAnswer]:
    """The English cases with their agents, from routing's changelog."""
    evidence = Evidence()
    read_topics(bus, evidence)
    return [
        CaseToAnswer(case.id, case.assignee)
        for case in sorted(evidence.cases.values(), key=lambda c: c.id)
        if case.language == "en" and case.assignee and not case.merged_into
    ]


@pytest.mark.timeout(180 + faults_messages() // 20)
def test_kill_9_of_the_whole_platform_loses_and_doubles_nothing(
    tmp_path: Path, channel: FakePlatforms, messages_count: int
) -> None:
    workload = Workload(messages_count, seed=SEED, rate=max(200.0, messages_count / 60))
    platform = make_platform(tmp_path, "embedded", "embedded", workload.care_config())
    platform.env.update(
        {**channel.env(), "SOCIALCARE_OUTBOUND_CONCURRENCY": str(OUTBOUND_CONCURRENCY)}
    )
    rand = random.Random(SEED)
    platform.start()
    bus = EmbeddedBus(platform.data_dir / "bus")
    search = EmbeddedSearchIndex(platform.data_dir / "search")
    crashes = Crashes(platform)
    try:
        started = time.monotonic()
        platform.token()  # signed in before the first crash; the token outlives restarts
        driver = Driver(platform.base_url, platform.auth_headers, workload)
        marks = [
            (int(messages_count * rand.uniform(0.15, 0.35)), "while messages arrive"),
            (int(messages_count * rand.uniform(0.55, 0.8)), "while messages arrive"),
        ]
        with crashes.at(lambda: driver.progress, marks):
            sent = driver.run()
        assert not crashes.failures, crashes.failures
        accepted = set(driver.accepted_ids().values())

        def cases_ready() -> bool:
            held = collect(bus, None, ()).message_cases()
            return all(held.get(m) for m in accepted)

        settle(bus, cases_ready, quiet_s=3.0, timeout_s=120.0)
        to_answer = _cases_to_answer(bus)
        replier = Replier(platform.base_url, platform.auth_headers)
        before_replies = len(crashes.log)
        reply_mark = max(1, int(len(to_answer) * rand.uniform(0.3, 0.6)))
        with crashes.at(lambda: replier.progress, [(reply_mark, "while replies go out")]):
            replier.reply_all(to_answer)
        assert not crashes.failures, crashes.failures
        # Only a crash after replies exist can leave one posted but unrecorded.
        expect = Expectations(
            reply_window=(len(crashes.log) - before_replies) * OUTBOUND_CONCURRENCY
        )

        def evidence() -> Evidence:
            return collect(bus, search, accepted, lambda: channel_log(channel))

        def settled() -> bool:
            return not audit(evidence(), driver.results, replier.results, expect).problems

        waited = settle(bus, settled, quiet_s=6.0, timeout_s=120.0)
        report = audit(evidence(), driver.results, replier.results, expect)
        report.notes[:0] = [
            *crashes.log,
            f"{messages_count:,} messages at {workload.rate:.0f}/s, "
            f"{len(to_answer):,} English cases answered; settled {waited:.0f} s after the "
            f"replies; {time.monotonic() - started:.0f} s in all",
        ]
        title = "Fault suite, embedded backends, kill -9 of `socialcare run all`"
        path = report.write(tmp_path / "faults-embedded.txt", title)
        print(f"\n{report.text(title)}\n\n(written to {path})")
    finally:
        if platform.process is not None and platform.process.poll() is None:
            platform.stop()
        bus.close()
        search.close()

    assert len(crashes.log) == 3, crashes.log
    assert sent.accepted > 0 and len(to_answer) > 0
    assert not report.problems, report.text(title)
