"""Brands and their channel accounts, from the care config (`brands:`).

A company answers as one or more brands; each brand connects its own accounts (a Facebook
page, an Instagram account, a WhatsApp number, an X account, a LinkedIn organisation,
generic sources such as a forum or review site, and feeds to listen to). Secrets never sit
in the file: each is named by the environment variable that holds it (`*_env`), read when
used, so a secret rotated by the platform's deployment needs no config change.

Without a `brands:` section there is one brand, `default`, whose accounts are the
environment's: `SOCIALCARE_META_APP_SECRET`, `SOCIALCARE_META_VERIFY_TOKEN`,
`SOCIALCARE_META_ACCESS_TOKEN`, `SOCIALCARE_META_GRAPH_URL`, `SOCIALCARE_X_CONSUMER_SECRET`,
`SOCIALCARE_X_BEARER_TOKEN`, `SOCIALCARE_X_API_URL`, `SOCIALCARE_LINKEDIN_CLIENT_SECRET`,
`SOCIALCARE_LINKEDIN_ACCESS_TOKEN`, `SOCIALCARE_LINKEDIN_API_URL`, and generic sources
`SOCIALCARE_GENERIC_<SOURCE>_SECRET` (source `trust-pilot` → `..._TRUST_PILOT_SECRET`).
A connector whose secret is not set is not connected: its webhook answers 404.
"""

from __future__ import annotations

import os
import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from socialcare.core.domain.durations import parse_duration
from socialcare.core.domain.pii_policy import PiiPolicy
from socialcare.core.domain.validators import check_language
from socialcare.core.domain.vip import vip_reference

DEFAULT_GRAPH_URL = "https://graph.facebook.com/v21.0"
DEFAULT_X_API_URL = "https://api.x.com/2"
DEFAULT_LINKEDIN_API_URL = "https://api.linkedin.com"
DEFAULT_SIGNATURE = "^{first_name}"
_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
_SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"

# Channels a generic source or feed may deliver as (the social networks have connectors).
GENERIC_CHANNELS = ("forum", "blog", "review", "email", "generic")


def secret(env_name: str | None) -> str | None:
    """The value of the environment variable `env_name`; None when unset or empty."""
    if not env_name:
        return None
    return os.environ.get(env_name) or None


def _generic_channel(value: str) -> str:
    if value not in GENERIC_CHANNELS:
        raise ValueError(f"must be one of {', '.join(GENERIC_CHANNELS)}")
    return value


def _url(value: str) -> str:
    value = value.strip().rstrip("/")
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MessageTemplateRef(_Section):
    """A WhatsApp message template the brand had approved (name + language)."""

    name: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    language: str = Field(min_length=2, pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")


class MetaAccounts(_Section):
    """One Meta app: Facebook pages, Instagram accounts and WhatsApp numbers of the brand."""

    app_secret_env: str = Field(default="SOCIALCARE_META_APP_SECRET", pattern=_ENV_NAME)
    verify_token_env: str = Field(default="SOCIALCARE_META_VERIFY_TOKEN", pattern=_ENV_NAME)
    access_token_env: str = Field(default="SOCIALCARE_META_ACCESS_TOKEN", pattern=_ENV_NAME)
    graph_url: str | None = Field(
        default=None,
        description="Graph API base URL; default SOCIALCARE_META_GRAPH_URL, else "
        f"{DEFAULT_GRAPH_URL}.",
    )
    accounts: list[str] = Field(
        default_factory=list,
        description="Page ids, Instagram account ids, WhatsApp phone number ids and "
        "business account ids of this brand; empty = every account the app receives.",
    )
    whatsapp_templates: list[MessageTemplateRef] = Field(default_factory=list)

    _check_url = field_validator("graph_url")(lambda v: None if v is None else _url(v))

    @property
    def app_secret(self) -> str | None:
        return secret(self.app_secret_env)

    @property
    def verify_token(self) -> str | None:
        return secret(self.verify_token_env)

    @property
    def access_token(self) -> str | None:
        return secret(self.access_token_env)

    @property
    def base_url(self) -> str:
        return self.graph_url or _url(
            os.environ.get("SOCIALCARE_META_GRAPH_URL") or DEFAULT_GRAPH_URL
        )

    def template(self, name: str, language: str) -> MessageTemplateRef | None:
        for template in self.whatsapp_templates:
            if template.name == name and template.language == language:
                return template
        return None


class XAccounts(_Section):
    """One X app (Account Activity API) and the brand's X accounts."""

    consumer_secret_env: str = Field(default="SOCIALCARE_X_CONSUMER_SECRET", pattern=_ENV_NAME)
    bearer_token_env: str = Field(default="SOCIALCARE_X_BEARER_TOKEN", pattern=_ENV_NAME)
    api_url: str | None = Field(
        default=None,
        description=f"X API v2 base URL; default SOCIALCARE_X_API_URL, else {DEFAULT_X_API_URL}.",
    )
    accounts: list[str] = Field(
        default_factory=list, description="User ids of the brand's X accounts; empty = any."
    )

    _check_url = field_validator("api_url")(lambda v: None if v is None else _url(v))

    @property
    def consumer_secret(self) -> str | None:
        return secret(self.consumer_secret_env)

    @property
    def bearer_token(self) -> str | None:
        return secret(self.bearer_token_env)

    @property
    def base_url(self) -> str:
        return self.api_url or _url(os.environ.get("SOCIALCARE_X_API_URL") or DEFAULT_X_API_URL)


class LinkedInAccounts(_Section):
    """One LinkedIn app (Community Management API) and the brand's organisations."""

    client_secret_env: str = Field(default="SOCIALCARE_LINKEDIN_CLIENT_SECRET", pattern=_ENV_NAME)
    access_token_env: str = Field(default="SOCIALCARE_LINKEDIN_ACCESS_TOKEN", pattern=_ENV_NAME)
    api_url: str | None = Field(
        default=None,
        description="LinkedIn API base URL; default SOCIALCARE_LINKEDIN_API_URL, else "
        f"{DEFAULT_LINKEDIN_API_URL}.",
    )
    accounts: list[str] = Field(
        default_factory=list,
        description="Organization URNs (urn:li:organization:123); empty = any.",
    )

    _check_url = field_validator("api_url")(lambda v: None if v is None else _url(v))

    @property
    def client_secret(self) -> str | None:
        return secret(self.client_secret_env)

    @property
    def access_token(self) -> str | None:
        return secret(self.access_token_env)

    @property
    def base_url(self) -> str:
        return self.api_url or _url(
            os.environ.get("SOCIALCARE_LINKEDIN_API_URL") or DEFAULT_LINKEDIN_API_URL
        )


class GenericSource(_Section):
    """A forum, blog, review site or any system that can POST signed JSON to us."""

    source: str = Field(pattern=_SLUG, description="The `{source}` of its webhook URL.")
    secret_env: str = Field(pattern=_ENV_NAME)
    channel: str = Field(default="generic", description="forum, blog, review, email or generic.")
    rate_per_s: float = Field(default=50.0, gt=0, description="Sustained requests per second.")
    burst: int = Field(default=100, ge=1, description="Requests allowed at once above the rate.")
    reply_url: str | None = Field(
        default=None,
        description="Where agents' replies are POSTed (signed the same way); without one, "
        "a reply to this source is reported failed and must be posted by hand.",
    )

    _check_url = field_validator("reply_url")(lambda v: None if v is None else _url(v))
    _check_channel = field_validator("channel")(_generic_channel)

    @property
    def secret(self) -> str | None:
        return secret(self.secret_env)


class Feed(_Section):
    """An RSS, Atom or JSON feed to listen to (blogs, forums, news about the brand's subject)."""

    name: str = Field(pattern=_SLUG)
    url: str
    channel: str = Field(default="blog", description="forum, blog, review, email or generic.")
    every_seconds: float = Field(default=300.0, alias="every", description="Polling interval.")
    keywords: list[str] | None = Field(
        default=None, description="Overrides the brand's listening keywords for this feed."
    )

    _check_url = field_validator("url")(_url)
    _check_channel = field_validator("channel")(_generic_channel)

    @field_validator("every_seconds", mode="before")
    @classmethod
    def _duration(cls, value: str | float) -> float:
        return parse_duration(value)


class Listening(_Section):
    """What the brand listens for beyond mentions: a post matches when it contains one of
    `keywords` (words or phrases, case-insensitive, whole words) and none of `exclude`."""

    keywords: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)


class Brand(_Section):
    name: str = Field(pattern=_SLUG)
    signature: str = Field(
        default=DEFAULT_SIGNATURE,
        description="How agents sign replies: {name}, {first_name} and {initials} are the "
        "agent's; empty = unsigned.",
    )
    meta: MetaAccounts | None = None
    x: XAccounts | None = None
    linkedin: LinkedInAccounts | None = None
    generic: list[GenericSource] = Field(default_factory=list)
    feeds: list[Feed] = Field(default_factory=list)
    listening: Listening = Field(default_factory=Listening)
    phone_country: str | None = Field(
        default=None,
        pattern=r"^[1-9][0-9]{0,2}$",
        description="The country calling code of the brand's customers (e.g. '31'): a phone "
        "number written without one ('06 1234 5678' on a form) is read as a number of this "
        "country, so it links to the same customer's WhatsApp or CRM number.",
    )
    retention_days: int | None = Field(
        default=None,
        ge=1,
        le=36500,
        description="How long the brand keeps a customer's conversations: a case closed or "
        "resolved with no activity for this many days is erased (reason 'retention'), and "
        "message documents older than this leave search. Unset: kept.",
    )
    pii: PiiPolicy = Field(
        default_factory=PiiPolicy,
        description="Personal data in search documents: `keep` lists the kinds (email, "
        "phone, iban) whose original may stay; the rest is redacted. Cards are never kept.",
    )
    languages: list[str] = Field(
        default_factory=list,
        description="The languages the brand answers in (ISO 639-1), its main one first: "
        "enrichment reads a message's language among these only (fewer candidates, fewer "
        "confusions on short texts), and a text too short to tell, from an author of unknown "
        "language on a channel that states none, is read in the first. Empty = every "
        "language enrichment supports.",
    )
    vip: list[str] = Field(
        default_factory=list,
        description="Customers who are VIPs whatever the CRM says: `<channel>:<author id>`, "
        "`<channel>:@<handle>`, `email:<address>`, `phone:<+number>` or `crm:<id>` "
        "(socialcare.core.domain.vip).",
    )

    @field_validator("vip")
    @classmethod
    def _vip_references(cls, value: list[str]) -> list[str]:
        return [vip_reference(reference) for reference in value]

    @field_validator("languages")
    @classmethod
    def _language_codes(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(check_language(code) for code in value))

    @field_validator("signature")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        try:
            value.format(name="", first_name="", initials="")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"{value!r}: only {{name}}, {{first_name}} and {{initials}} may be used ({exc})"
            ) from None
        return value

    def generic_source(self, source: str) -> GenericSource | None:
        """The configured source, or for the `default` brand one the environment names
        (`SOCIALCARE_GENERIC_<SOURCE>_SECRET`)."""
        for configured in self.generic:
            if configured.source == source:
                return configured
        if self.name == DEFAULT_BRAND and re.fullmatch(_SLUG, source):
            env_name = f"SOCIALCARE_GENERIC_{source.upper().replace('-', '_')}_SECRET"
            if secret(env_name):
                return GenericSource(source=source, secret_env=env_name)
        return None

    def sign(self, text: str, agent_name: str) -> str:
        """`text` signed by the agent per the brand's signature (a space or a new line
        before it), or unchanged when the brand signs nothing."""
        if not self.signature:
            return text
        parts = agent_name.split()
        signature = self.signature.format(
            name=agent_name,
            first_name=parts[0] if parts else agent_name,
            initials="".join(p[0] for p in parts if p[:1].isalpha()),
        )
        separator = " " if len(signature) <= 16 and "\n" not in text else "\n"
        return f"{text.rstrip()}{separator}{signature}"


DEFAULT_BRAND = "default"


def default_brand() -> Brand:
    """The brand the environment describes when the care config names none."""
    return Brand(
        name=DEFAULT_BRAND, meta=MetaAccounts(), x=XAccounts(), linkedin=LinkedInAccounts()
    )
