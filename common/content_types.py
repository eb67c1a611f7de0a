"""What a body is: its media type as a request names it, and what kind of image its first bytes say it is
(no decoding, no imports: Lambdas use it)."""

from __future__ import annotations

#: Leading bytes -> (content type, file suffix).
SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png", ".png"), (b"\xff\xd8\xff", "image/jpeg", ".jpg"))
UNKNOWN = ("application/x-image", ".img")


def media_type(content_type: str | None) -> str:
    """``image/png; charset=x`` -> ``image/png``: the type without its parameters, lower-cased (RFC 9110 8.3.1)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def sniff(data: bytes) -> tuple[str, str]:
    """(content type, suffix) of an image's bytes; WebP by its RIFF header; anything else ``application/x-image``."""
    for signature, content_type, suffix in SIGNATURES:
        if data.startswith(signature):
            return content_type, suffix
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", ".webp"
    return UNKNOWN
