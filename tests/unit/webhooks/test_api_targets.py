"""The webhook target policy (webhooks/targets.py): which URLs a subscription may point at,
so the platform cannot be turned into a proxy into its own network (SSRF)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from socialcare.core.errors import InvalidRequestError
from socialcare.webhooks.targets import Resolver, address_allowed, check_target, is_loopback_host

PUBLIC = "93.184.215.14"


def resolver(table: dict[str, Sequence[str]]) -> Resolver:
    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise OSError(f"{host}: Name or service not known")
        return table[host]

    return resolve


NAMES = resolver(
    {
        "hooks.example.com": [PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
        "internal.example.com": ["10.0.0.7"],
        "mixed.example.com": [PUBLIC, "192.168.1.10"],
        "metadata.example.com": ["169.254.169.254"],
        "nowhere.example.com": [],
    }
)


def check(url: str, *, allow_http: bool = False, allow_private: bool = False) -> str:
    return check_target(url, allow_http=allow_http, allow_private=allow_private, resolve=NAMES)


def refusal(url: str, **flags: bool) -> str:
    with pytest.raises(InvalidRequestError) as caught:
        check(url, **flags)
    assert caught.value.field == "url"
    assert caught.value.details[0].code == "invalid_url"
    return caught.value.message


def test_a_public_https_url_is_taken_as_given() -> None:
    assert check(" https://hooks.example.com/socialcare?x=1 ") == (
        "https://hooks.example.com/socialcare?x=1"
    )
    assert check(f"https://{PUBLIC}:8443/in") == f"https://{PUBLIC}:8443/in"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://hooks.example.com/in", "must be https://"),
        ("ftp://hooks.example.com/in", "must be an https:// URL"),
        ("hooks.example.com/in", "must be an https:// URL"),
        ("https:///in", "must name a host"),
        ("https://user:pw@hooks.example.com/in", "user:password"),
        ("https://hooks.example.com/in#frag", "#fragment"),
        ("https://hooks.example.com:99999/in", "not a valid URL"),
        ("https://hooks.example.com/a b", "spaces"),
        ("https://internal.example.com/in", "internal.example.com resolves to 10.0.0.7"),
        ("https://mixed.example.com/in", "resolves to 192.168.1.10"),
        ("https://metadata.example.com/", "169.254.169.254"),
        ("https://169.254.169.254/latest/meta-data", "public address"),
        ("https://127.0.0.1/in", "public address"),
        ("https://localhost:8443/in", "public address"),
        ("https://[::1]/in", "public address"),
        ("https://[::ffff:10.1.2.3]/in", "public address"),
        ("https://100.64.0.1/in", "public address"),
        ("https://0.0.0.0/in", "public address"),
        ("https://224.0.0.1/in", "public address"),
        ("https://unknown.example.com/in", "does not resolve"),
        ("https://nowhere.example.com/in", "does not resolve"),
        ("https://" + "a" * 2050 + ".com/", "at most 2048"),
    ],
)
def test_refused_targets_name_the_url_and_say_why(url: str, says: str) -> None:
    assert says in refusal(url)


def test_private_targets_only_when_allowed() -> None:
    assert check("https://internal.example.com/in", allow_private=True)
    assert check("https://127.0.0.1:9000/in", allow_private=True)
    # Never multicast or the unspecified address, allowed or not.
    assert "public address" in refusal("https://0.0.0.0/in", allow_private=True)
    assert "public address" in refusal("https://[ff02::1]/in", allow_private=True)


def test_http_for_loopback_or_when_allowed() -> None:
    assert check("http://127.0.0.1:9000/in", allow_private=True)
    assert check("http://localhost:9000/in", allow_private=True)
    # Loopback http is still a private target.
    assert "public address" in refusal("http://127.0.0.1:9000/in")
    assert "must be https://" in refusal("http://internal.example.com/in", allow_private=True)
    assert check("http://hooks.example.com/in", allow_http=True)


def test_address_allowed_is_what_the_sender_checks_before_connecting() -> None:
    assert address_allowed(PUBLIC, allow_private=False)
    assert not address_allowed("10.1.2.3", allow_private=False)
    assert address_allowed("10.1.2.3", allow_private=True)
    assert not address_allowed("::ffff:127.0.0.1", allow_private=False)
    assert not address_allowed("not an address", allow_private=True)


def test_loopback_hosts() -> None:
    assert is_loopback_host("localhost")
    assert is_loopback_host("api.localhost.")
    assert is_loopback_host("127.0.0.2")
    assert not is_loopback_host("localhost.example.com")
