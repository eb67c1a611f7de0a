"""What kind of image a byte string is, from its first bytes (no decoding, no imports: Lambdas use it)."""

from __future__ import annotations

#: Leading bytes -> (content type, file suffix).
SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png", ".png"), (b"\xff\xd8\xff", "image/jpeg", ".jpg"))
UNKNOWN = ("application/x-image", ".img")


def sniff(data: bytes) -> tuple[str, str]:
    """(content type, suffix) of an image's bytes; WebP by its RIFF header; anything else ``application/x-image``."""
    for signature, content_type, suffix in SIGNATURES:
        if data.startswith(signature):
            return content_type, suffix
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", ".webp"
    return UNKNOWN
