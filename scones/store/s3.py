"""The AWS artifact store: plain S3 through boto3 (a client may be injected)."""

from __future__ import annotations

from pathlib import Path

from scones.aws_errors import call
from scones.errors import NotFound
from scones.store import ArtifactStore, relative_key
from scones.uris import S3Uri


class S3Store(ArtifactStore):
    def __init__(self, client=None):
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.client = client

    @classmethod
    def from_uri(cls, uri: str, clients=None, **kwargs) -> S3Store:
        return cls(clients("s3") if clients else None)

    def put_bytes(self, uri: str, data: bytes) -> None:
        parsed = S3Uri.parse(uri)
        self._call("PutObject", uri, self.client.put_object, Bucket=parsed.bucket, Key=parsed.key, Body=data)

    def get_bytes(self, uri: str) -> bytes:
        parsed = S3Uri.parse(uri)
        response = self._call("GetObject", uri, self.client.get_object, Bucket=parsed.bucket, Key=parsed.key)
        return response["Body"].read()

    def list(self, prefix: str) -> list[tuple[str, int]]:
        parsed = S3Uri.parse(prefix)
        found = []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=parsed.bucket, Prefix=parsed.key):
                for item in page.get("Contents", []):
                    if relative_key(item["Key"], parsed.key) is not None:
                        found.append((f"s3://{parsed.bucket}/{item['Key']}", item["Size"]))
        except self.client.exceptions.NoSuchBucket as exc:
            raise NotFound(f"bucket {parsed.bucket} does not exist") from exc
        return sorted(found)

    def download(self, prefix: str, folder: Path, shard: tuple[int, int] = (0, 1)) -> list[Path]:
        prefix_key = S3Uri.parse(prefix).key
        written = []
        index, count = shard
        for uri, _ in self.list(prefix)[index::count]:
            key = S3Uri.parse(uri).key
            target = Path(folder) / relative_key(key, prefix_key)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.get_bytes(uri))
            written.append(target)
        return written

    def upload(self, folder: Path, prefix: str) -> list[str]:
        base = S3Uri.parse(prefix)
        uris = []
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            uri = str(base.join(path.relative_to(folder).as_posix()))
            self.put_bytes(uri, path.read_bytes())
            uris.append(uri)
        return uris

    def delete(self, uri: str) -> None:
        parsed = S3Uri.parse(uri)
        self._call("DeleteObject", uri, self.client.delete_object, Bucket=parsed.bucket, Key=parsed.key)

    def _call(self, operation: str, uri: str, method, **kwargs):
        return call(f"S3 {operation} {uri}", method, **kwargs)
