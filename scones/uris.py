"""``s3://bucket/key`` parsing shared by the stores, the engine and the deployer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from scones.errors import InvalidInput


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            raise InvalidInput(f"not an s3:// URI: {uri!r}")
        bucket, _, key = uri[len("s3://"):].partition("/")
        if len(bucket) < 3 or "/" in bucket:
            raise InvalidInput(f"bad bucket name in {uri!r}")
        if ".." in PurePosixPath(key).parts:
            raise InvalidInput(f"'..' is not allowed in an S3 key: {uri!r}")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def join(self, *parts: str) -> S3Uri:
        key = "/".join([self.key.rstrip("/"), *[p.strip("/") for p in parts]]).lstrip("/")
        return S3Uri(self.bucket, key)
