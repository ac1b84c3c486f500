"""The local channel the fault suite's replies are posted to, and its log counted per reply.

The channel is `tests.fakes.platforms.FakePlatforms` (a real HTTP server on 127.0.0.1
speaking X's, Graph's, LinkedIn's and generic reply endpoints with their documented answer
formats); the workload's messages are X mentions, so replies arrive at `POST /x/2/tweets`
with `Idempotency-Key: <reply id>`. The fake records every request, whatever it answered,
so the log below counts what the platform sent, not what it believes it sent.

`honour_idempotency_key=True` is the default, as for the platforms and proxies that
honour the key (`channels/outbound/processor.py` relies on it for its one crash window): a
repeat is answered with the first answer and counted as a repeat, not a second post. The
audit reports repeats as raw re-posts either way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tests.fakes.platforms import FakePlatforms

POSTED = frozenset({"accepted", "lost"})
"""Outcomes of a request the platform took as a new post (a lost answer's post stands)."""
REPEATED = "duplicate"
"""Outcome of a repeat of an Idempotency-Key the platform already took."""


def fake_channel(*, seed: int = 14, honour_idempotency_key: bool = True) -> FakePlatforms:
    """A fake channel without random faults (faults come from the platform's side here);
    use it as a context manager and point the platform at it with `env()`."""
    return FakePlatforms(seed=seed, honour_idempotency_key=honour_idempotency_key)


@dataclass(frozen=True, slots=True)
class ChannelLog:
    """The channel's log per reply id (the Idempotency-Key).

    `raw_posts`: every request that reached a post endpoint with a valid body and was taken
    or repeated (a customer-visible post when the key is not honoured). `posted`: the posts
    the channel took as new; a reply id there more than once was shown twice. `repeats`:
    repeats the channel answered from its memory of the key. `refused`: requests answered
    with an error (throttled, failed, invalid, unauthorised, refused)."""

    raw_posts: Counter[str]
    posted: Counter[str]
    repeats: Counter[str]
    refused: Counter[str]

    @property
    def distinct_replies(self) -> int:
        return len(self.posted)


def channel_log(fake: FakePlatforms) -> ChannelLog:
    raw: Counter[str] = Counter()
    posted: Counter[str] = Counter()
    repeats: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for request in fake.requests():
        key = request.idempotency_key
        if request.outcome in POSTED:
            posted[key] += 1
            raw[key] += 1
        elif request.outcome == REPEATED:
            repeats[key] += 1
            raw[key] += 1
        else:
            refused[key] += 1
    return ChannelLog(raw, posted, repeats, refused)
