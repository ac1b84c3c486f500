"""Where a webhook may point: the target policy against server-side request forgery (SSRF).

A subscription makes the platform send HTTP requests to a URL an integrator chose. Left
open, that URL could be the platform's own admin ports, the cloud's metadata service
(169.254.169.254) or a database inside the cluster: the platform would be a proxy into
its own network. So a target must be:

* `https://` — `http://` only for a loopback host, or anywhere with
  SOCIALCARE_WEBHOOK_ALLOW_HTTP (a test lab);
* a public address: a host whose every resolved address is globally routable. Loopback,
  private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16, fe80::/10,
  the metadata services), carrier-grade NAT, documentation and reserved ranges are refused
  unless SOCIALCARE_WEBHOOK_ALLOW_PRIVATE_TARGETS is on (development, tests, a receiver
  inside the company's own network); multicast and the unspecified address never;
* without user:password (a secret in a URL ends up in logs) and without a fragment.

The API checks the URL and its host's current addresses when a subscription is created or
its URL changed (`check_target`), so a mistake is a 422 naming `url` at once. A name can
resolve elsewhere later (DNS rebinding), so the sender checks the address it is about to
connect to as well (`address_allowed`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from urllib.parse import SplitResult, urlsplit

from socialcare.core.errors import FieldProblem, InvalidRequestError

MAX_URL_LENGTH = 2048

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
"""(host, port) -> the addresses the host resolves to now; raises OSError when it does not."""


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to now (every family), by the system resolver."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in found})


def address_allowed(address: IpAddress | str, *, allow_private: bool) -> bool:
    """True when the sender may connect to `address`: a globally routable unicast address,
    or (with `allow_private`) any unicast one but the unspecified address."""
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_multicast or ip.is_unspecified:
        return False
    return allow_private or ip.is_global


def is_loopback_host(host: str) -> bool:
    """`localhost`, a name under `.localhost` (RFC 6761), or a loopback address literal."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_target(
    url: str,
    *,
    allow_http: bool,
    allow_private: bool,
    resolve: Resolver = resolve_host,
) -> str:
    """The target URL (stripped), or InvalidRequestError (422, field `url`) saying what is
    wrong with it: scheme, shape, or an address it may not reach (see the module
    docstring). Resolves the host with `resolve` (may block for the resolver's time)."""
    target = url.strip()
    if len(target) > MAX_URL_LENGTH:
        raise _bad_url(f"must be at most {MAX_URL_LENGTH} characters")
    parts = _split(target)
    host = parts.hostname or ""
    if parts.scheme == "http":
        if not (allow_http or is_loopback_host(host)):
            raise _bad_url(
                "must be https:// (http:// only for a loopback host, or with "
                "SOCIALCARE_WEBHOOK_ALLOW_HTTP)"
            )
    elif parts.scheme != "https":
        raise _bad_url("must be an https:// URL")
    if not host:
        raise _bad_url("must name a host")
    if parts.username is not None or parts.password is not None:
        raise _bad_url("must not carry user:password (the signature authenticates us)")
    if parts.fragment:
        raise _bad_url("must not have a #fragment")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for address in _addresses(host, port, resolve):
        if not address_allowed(address, allow_private=allow_private):
            where = "" if address == host else f" ({host} resolves to {address})"
            raise _bad_url(
                f"must reach a public address{where}: loopback, private, link-local and "
                "reserved addresses are refused unless SOCIALCARE_WEBHOOK_ALLOW_PRIVATE_TARGETS"
                " is on"
            )
    return target


def _split(target: str) -> SplitResult:
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        raise _bad_url("must not contain spaces or control characters")
    try:
        parts = urlsplit(target)
        _ = parts.port  # parsing the port raises for a malformed one
    except ValueError as exc:
        raise _bad_url(f"is not a valid URL: {exc}") from None
    return parts


def _addresses(host: str, port: int, resolve: Resolver) -> list[str]:
    """The address literal itself, or every address the name resolves to."""
    literal = host.strip("[]")
    try:
        return [str(ipaddress.ip_address(literal))]
    except ValueError:
        pass
    if is_loopback_host(host):
        return ["127.0.0.1"]
    try:
        found = list(resolve(host, port))
    except (OSError, UnicodeError):
        raise _bad_url(f"host {host} does not resolve") from None
    if not found:
        raise _bad_url(f"host {host} does not resolve")
    return found


def _bad_url(message: str) -> InvalidRequestError:
    return InvalidRequestError.from_problems([FieldProblem("url", "invalid_url", message)])
