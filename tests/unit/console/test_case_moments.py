"""The case view shows what enrichment learnt about the customer: their special moments
(scenario 4) with the words they used, a gentle hint for sad ones, the VIP badge, the
reach tier and the customer value (scenario 5), in English and Dutch, escaped."""

from __future__ import annotations

from socialcare.v1 import case_pb2, message_pb2

from .conftest import Console, make_case


def told(case_id: str, *moments: tuple[str, str], language: str = "en") -> case_pb2.Case:
    case = make_case(case_id, brand="acme", language=language)
    case.moments.extend(message_pb2.SpecialMoment(kind=k, quote=q) for k, q in moments)
    return case


def test_the_case_shows_its_special_moments_in_the_customers_words(console: Console) -> None:
    console.add(
        told(
            "acme-m1",
            ("birth", "We just had our daughter and the heating broke"),
            ("trip", "My nephew from Australia wants to see a <b>match</b>"),
        )
    )
    page = console.get("/cases/acme-m1", user="olivia").text
    assert 'data-moment="birth"' in page
    assert (
        "Special moment: birth</span> — <q>We just had our daughter and the heating broke</q>"
        in page
    )
    assert "Special moment: trip" in page
    assert "wants to see a &lt;b&gt;match&lt;/b&gt;" in page
    assert "Be gentle" not in page


def test_a_sad_moment_asks_the_agent_to_be_gentle(console: Console) -> None:
    console.add(told("acme-m2", ("bereavement", "My father passed away last month.")))
    page = console.get("/cases/acme-m2", user="olivia").text
    assert "Special moment: bereavement" in page
    assert "Be gentle: not a moment to congratulate." in page


def test_a_case_without_moments_has_no_moments_list(console: Console) -> None:
    console.add(told("acme-m3"))
    page = console.get("/cases/acme-m3", user="olivia").text
    assert "Special moments" not in page and 'class="plain moments"' not in page


def test_vip_reach_tier_and_customer_value_beside_the_customer(console: Console) -> None:
    case = told("acme-m4")
    case.vip = True
    case.reach_tier = "macro"
    case.customer_value = 12000.0
    console.add(case)
    page = console.get("/cases/acme-m4", user="olivia").text
    assert '<span class="badge vip" data-vip="true">VIP</span></h1>' in page
    assert "245\u202f000 followers" in page
    assert 'data-reach-tier="macro">Macro reach</span>' in page
    assert '<dd class="customer-value">12\u202f000' in page


def test_without_a_known_value_or_tier_it_says_unknown(console: Console) -> None:
    console.add(told("acme-m5"))
    page = console.get("/cases/acme-m5", user="olivia").text
    assert '<dd class="customer-value">unknown</dd>' in page
    assert "data-reach-tier" not in page and "badge vip" not in page


def test_an_unconfigured_reach_tier_shows_its_own_name(console: Console) -> None:
    case = told("acme-m6")
    case.reach_tier = "rising-star"
    console.add(case)
    page = console.get("/cases/acme-m6", user="olivia").text
    assert 'data-reach-tier="rising-star">rising-star reach</span>' in page


def test_in_dutch(console: Console) -> None:
    case = told("acme-m7", ("new_home", "We zijn net verhuisd."), language="nl")
    case.reach_tier = "micro"
    case.vip = True
    console.add(case)
    page = console.get("/cases/acme-m7", user="sanne", **{"accept-language": "nl"}).text
    assert "Bijzondere momenten" in page
    assert "Bijzonder moment: nieuw huis</span> — <q>We zijn net verhuisd.</q>" in page
    assert "Bereik: micro" in page
    assert "Klantwaarde" in page and "onbekend" in page
