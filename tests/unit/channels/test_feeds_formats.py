"""Feed formats: RSS 2.0, Atom 1.0 and JSON Feed items as messages, refused XML entity
declarations, documents that are not feeds, and HTML reduced to the text a reader sees.

Fixtures (tests/fixtures/feeds) are a Dutch energy forum (RSS 2.0 with dc:creator and
content:encoded), an English household-energy blog (Atom, html and xhtml content) and a
German energy-advice forum (JSON Feed 1.1) with posts about energy bills, labels and
subsidies and some that must not match. The poller's tests (test_feeds.py) use them too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from socialcare.channels.feed_formats import MAX_RAW_ITEM_BYTES, html_to_text, parse_feed
from socialcare.channels.parsed import PayloadError
from socialcare.core.domain.brands import Feed
from socialcare.ingestion.models import MAX_TEXT_LENGTH

FIXTURES = Path(__file__).parents[2] / "fixtures" / "feeds"
NOW = datetime(2024, 11, 6, 12, 0, tzinfo=UTC)
RSS = (FIXTURES / "energieforum-nl.rss.xml").read_bytes()
ATOM = (FIXTURES / "home-energy-blog.atom.xml").read_bytes()
JSON_FEED = (FIXTURES / "energieberatung-de.feed.json").read_bytes()


def feed(
    name: str = "energieforum", url: str = "https://www.energieforum.example/f.rss", **extra: Any
) -> Feed:
    return Feed.model_validate({"name": name, "url": url, "channel": "forum", **extra})


def test_rss_items_become_forum_posts_with_author_date_link_language_and_enclosures() -> None:
    parsed = parse_feed(RSS, feed=feed(), brand="energieloket", now=NOW)

    assert parsed.format == "rss"
    assert parsed.skipped == []
    first, second = parsed.items[0].message, parsed.items[1].message
    assert first.channel == "forum"
    assert first.kind == "post"
    assert first.brand == "energieloket"
    # A guid that is not a URI is only unique on its site: scoped by the site's host.
    assert first.external_id == "www.energieforum.example#energieforum.example-topic-48213"
    assert first.thread_id == first.external_id
    assert first.author.id == "www.energieforum.example/jvdberg_zzp"
    assert first.author.name == "jvdberg_zzp"
    assert first.author.followers == 0
    assert first.created_at == datetime(2024, 11, 5, 8, 14, 3, tzinfo=UTC)
    assert first.language_hint == "nl-NL"
    assert first.url == (
        "https://www.energieforum.example/t/energierekening-veel-hoger-dan-verwacht/48213"
    )
    # A relative link is resolved against the channel's link.
    assert (
        second.url == "https://www.energieforum.example/t/isde-subsidie-warmtepomp-aanvraag/48190"
    )
    assert [a.model_dump(exclude_none=True) for a in second.attachments] == [
        {
            "type": "file",
            "url": "https://www.energieforum.example/uploads/offerte.pdf",
            "mime_type": "application/pdf",
        }
    ]
    assert parsed.items[0].content_type == "application/rss+xml"
    assert b"<title>Energierekening veel hoger dan verwacht" in parsed.items[0].raw


def test_rss_text_is_the_title_and_the_full_content_as_plain_text_without_scripts() -> None:
    [first, second, *_] = parse_feed(RSS, feed=feed(), brand="b", now=NOW).items

    assert first.message.text == (
        "Energierekening veel hoger dan verwacht \u2013 wat is mijn energielabel?\n\n"
        "Ik werk als zzp'er vanuit huis en mijn jaarafrekening is € 1.240 hoger dan "
        "verwacht.\n\nTwee vragen:\n\n"
        "Hoe kom ik erachter wat het energielabel van mijn woning is?\n\n"
        "Kan ik subsidie krijgen voor spouwmuurisolatie?\n\nAlvast bedankt!"
    )
    assert "document.cookie" not in first.message.text
    # Without content:encoded the description is the body.
    assert second.message.text.endswith("Nog niets gehoord. Is dat normaal?")


def test_atom_entries_with_html_and_xhtml_content_and_the_feed_author_as_fallback() -> None:
    blog = feed("home-energy", "https://homeenergynotes.example/feed.atom", channel="blog")

    parsed = parse_feed(ATOM, feed=blog, brand="energieloket", now=NOW)

    assert parsed.format == "atom"
    doubled, epc, sourdough = (item.message for item in parsed.items)
    assert doubled.channel == "blog"
    assert doubled.external_id == "tag:homeenergynotes.example,2024-11-05:/energy-bill-doubled"
    assert doubled.text == (
        "Why my energy bill doubled & what I\u2019m doing about it\n\n"
        "The direct debit went from £96 to £190 a month.\n\n"
        "Is there a grant or subsidy for loft insulation, and where do I find my flat's "
        "energy-label?"
    )
    assert doubled.created_at == datetime(2024, 11, 5, 8, 30, tzinfo=UTC)  # published
    assert doubled.author.id == "https://homeenergynotes.example/about"  # the feed's author
    assert doubled.author.name == "Priya Shah"
    assert doubled.language_hint == "en-GB"
    assert doubled.attachments[0].type == "image"
    assert doubled.attachments[0].mime_type == "image/jpeg"
    assert epc.text == (
        "Do I need an Energy Performance Certificate to sell my flat?\n\n"
        "Our estate agent says we need an energy label before listing.\n\nGuest post by Tom."
    )
    assert epc.created_at == datetime(2024, 11, 2, 19, 12, 44, tzinfo=UTC)  # updated
    assert epc.author.name == "Tom Okafor"
    assert epc.author.id == "homeenergynotes.example/tom@homeenergynotes.example"
    assert epc.url == "https://homeenergynotes.example/2024/11/epc-to-sell"
    assert sourdough.text.startswith("Recipe: no-knead sourdough")
    assert parsed.items[0].content_type == "application/atom+xml"


def test_json_feed_items_with_authors_attachments_numeric_ids_and_a_broken_item() -> None:
    forum = feed("energieberatung", "https://forum.energieberatung.example/feed.json")

    parsed = parse_feed(JSON_FEED, feed=forum, brand="energieloket", now=NOW)

    assert parsed.format == "json"
    assert parsed.skipped == ["items.3: not an object"]
    foerderung, forderung, ausweis = (item.message for item in parsed.items)
    assert foerderung.external_id == "https://forum.energieberatung.example/thread/9921"
    assert foerderung.author.id == "https://forum.energieberatung.example/user/sabine-k"
    assert foerderung.author.name == "Sabine K."
    assert foerderung.language_hint == "de-DE"
    assert "Unsere Stromrechnung ist explodiert." in foerderung.text
    assert "<b>" not in foerderung.text
    assert foerderung.attachments[0].mime_type == "application/pdf"
    assert forderung.text.endswith("Ist das rechtens?")  # content_text as it is
    assert forderung.author.id == "forum.energieberatung.example/mieter_hh"
    # A 1.0-style numeric id, no title, no author (the feed's), the item's own language.
    assert ausweis.external_id == "forum.energieberatung.example#9915"
    assert ausweis.text.startswith("Kurze Frage: gilt der ENERGIEAUSWEIS")
    assert ausweis.author.name == "Forum-Team"
    assert ausweis.language_hint == "de"
    assert ausweis.created_at == datetime(2024, 11, 4, 9, 3, tzinfo=UTC)  # date_modified
    assert [a.type for a in ausweis.attachments] == ["image"]
    assert json.loads(parsed.items[2].raw)["id"] == 9915
    assert parsed.items[0].content_type == "application/feed+json"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<rss version="2.0"><channel><title>&lol4;</title></channel></rss>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><item><title>&secret;</title><guid>1</guid></item></channel></rss>"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["laughs", "xxe"])
def test_entity_declarations_are_refused_not_expanded(body: bytes) -> None:
    with pytest.raises(PayloadError) as refused:
        parse_feed(body, feed=feed(), brand="b", now=NOW)

    assert refused.value.field == "body"
    assert "EntitiesForbidden" in refused.value.reason


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"<!doctype html><html><body>Not a feed</body></html>", "body"),
        (b"<html><body>Not a feed</body></html>", "body"),
        (b'<rss version="2.0"></rss>', "rss.channel"),
        (b"<rss><channel><item>", "body"),
        (b'{"title": "no version", "items": []}', "version"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": {}}', "items"),
        (b"[1, 2, 3]", "body"),
        (b"{not json", "body"),
        (b"[" * 100_000 + b"]" * 100_000, "body"),
    ],
)
def test_a_document_that_is_not_a_feed_names_what_is_wrong(body: bytes, field: str) -> None:
    with pytest.raises(PayloadError) as refused:
        parse_feed(body, feed=feed(), brand="b", now=NOW)

    assert refused.value.field == field


def rss(*items: str, language: str = "nl") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Forum</title><link>https://forum.example/</link><language>{language}</language>"
        + "".join(f"<item>{item}</item>" for item in items)
        + "</channel></rss>"
    ).encode()


def test_items_that_cannot_be_messages_are_skipped_with_the_reason_and_the_rest_kept() -> None:
    body = rss(
        "<title>Geen id, geen link</title>",
        "<guid>no-text</guid>",
        "<guid>ok</guid><title>Energielabel?</title>",
        f"<guid>huge</guid><title>groot</title><description>{'x' * MAX_RAW_ITEM_BYTES}"
        "</description>",
    )

    parsed = parse_feed(body, feed=feed(), brand="b", now=NOW)

    assert [i.message.external_id for i in parsed.items] == ["forum.example#ok"]
    assert parsed.skipped[:2] == ["item 0: no id and no link", "item 1: no title and no text"]
    assert parsed.skipped[2].startswith("item 3: ") and "bytes, over" in parsed.skipped[2]


def test_dates_links_and_ids_are_made_safe() -> None:
    body = rss(
        "<guid>future</guid><title>t</title><pubDate>Sat, 01 Jan 2031 10:00:00 GMT</pubDate>"
        "<link>javascript:alert(1)</link>",
        "<guid>no-date</guid><title>t</title><pubDate>gisteren</pubDate>",
        "<guid>iso</guid><title>t</title><pubDate>2024-11-05T09:14:03+01:00</pubDate>",
        f"<link>https://forum.example/{'p' * 300}</link><title>t</title>",
        "<guid isPermaLink='true'>https://forum.example/t/1</guid><title>t</title>",
        "<guid>author</guid><title>t</title><author>jan@forum.example (Jan Jansen)</author>",
        language="nonsense language",
    )

    future, undated, iso, long_link, permalink, author = (
        i.message for i in parse_feed(body, feed=feed(), brand="b", now=NOW).items
    )

    assert future.created_at == NOW  # never after the poll
    assert future.url is None  # only http(s) links reach an agent's screen
    assert undated.created_at == NOW
    assert iso.created_at == datetime(2024, 11, 5, 8, 14, 3, tzinfo=UTC)
    assert iso.language_hint is None  # not a language tag
    assert long_link.external_id.startswith("sha256:")
    assert long_link.url is not None and long_link.url.endswith("p" * 300)
    assert permalink.url == "https://forum.example/t/1"
    assert permalink.external_id == "https://forum.example/t/1"
    assert author.author.name == "Jan Jansen"
    assert author.author.id == "forum.example/jan@forum.example"


def test_a_long_post_is_cut_at_a_word_to_the_message_limit() -> None:
    body = rss(
        f"<guid>long</guid><title>Energielabel</title><description>{'woord ' * 3000}</description>"
    )

    [item] = parse_feed(body, feed=feed(), brand="b", now=NOW).items

    assert len(item.message.text) <= MAX_TEXT_LENGTH
    assert item.message.text.endswith("woord…")


def test_html_to_text_keeps_what_a_reader_sees() -> None:
    html = (
        "<h2>Vraag</h2><p>Mijn <a href='x'>energie&shy;label</a> is &lt;C&gt; &amp; ik "
        "wil&nbsp;subsidie.<br>Tweede regel</p><style>p{}</style><script>alert(1)</script>"
        "<ul><li>een</li><li>twee</li></ul>"
    )

    assert html_to_text(html) == (
        "Vraag\n\nMijn energie\u00adlabel is <C> & ik wil\u00a0subsidie.\nTweede regel"
        "\n\neen\n\ntwee"
    ).replace("\u00a0", " ")
