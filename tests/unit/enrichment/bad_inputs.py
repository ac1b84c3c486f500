"""Texts real channels deliver that break naive text code, shared by the bad-input tests."""

from __future__ import annotations

BAD_TEXTS: dict[str, str] = {
    "empty": "",
    "whitespace": " \t\r\n\u00a0\u3000",
    "emoji only": "😀😡👍🏽👩‍👩‍👧🇳🇱🏳️‍🌈",
    "50,000 characters": ("Mijn pakket is nog steeds niet bezorgd! 😡 " * 1200)[:50_000],
    "50,000 characters without a space": "a" * 50_000,
    "50,000 emoji": "😀" * 50_000,
    "50,000 characters of digit groups": ("06 " * 16_667)[:50_000],
    "mixed scripts": "Привет hello مرحبا 你好 こんにちは שלום नमस्ते bonjour ✈️ 06-12345678",
    "control characters": "a\x00b\x07c\x1b[31mred\x1b[0m\r\n\t\x7f\x85\x9bd",
    "RTL marks and overrides": (
        "\u202egnp.exe\u202c \u200f\u05e9\u05dc\u05d5\u05dd\u200e hi \u2066x\u2069 \u061c"
    ),
    "zero-width joiners": "a\u200db\u200cc\u2060d\ufeffe\u200b jan@\u200bexample.nl",
    "combining marks": "e\u0301" * 500 + "Z\u0336\u0335\u0334" * 300,
    "private use and noncharacters": "\ue000\U000f0000\uffff\ufffe\U0010ffff",
    "emoji before an e-mail address": "😀👩‍👩‍👧 mail me: jan@example.nl",
}
