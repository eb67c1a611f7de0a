"""The S3 client of the local world: boto3's, whose plain GetObject and PutObject use moto's store directly.

Why: the serializer reads every image with one ranged GetObject, and through boto3 into moto's S3
that request is rebuilt three times (botocore's signed HTTP request, werkzeug's request for moto,
moto's XML answer parsed back by botocore): 4-5 ms of CPU on 2 cores, the largest single cost of a
Map item. Here the plain case -- an object of the default storage class in a bucket with no policy,
read whole or by a ``bytes=N-`` / ``bytes=N-M`` range that it satisfies -- is answered from moto's
store, with the headers moto's ``get_object`` writes, parsed by botocore's own parser for the
operation. The runner's uploads (one PutObject per photo, 3.7 ms each through boto3) are stored as
moto stores what boto3 sends: the same object, metadata, ACL and CRC32 checksum. Everything else
(any other parameter, an error to answer, a versioned or archived object, a policy to enforce) goes
through the boto3 client unchanged, so it is refused and answered as moto answers it.
``tests/inference_workflow/test_world_s3.py`` holds the two side by side, field for field.
"""

from __future__ import annotations

import email.utils
import io
import re
from typing import Any

from common.clients import CLIENT_CONFIG

#: Bucket and key as the direct path takes them: anything else (a key that URL-encoding, dot segments or
#: botocore's bucket checks could change or refuse) goes through boto3. A key's last part, the photo's own
#: name, may also hold spaces and parentheses (``Screenshot 2024-01-01 at 12.00.00.png``, ``photo (1).jpg``).
_PLAIN_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_PLAIN_KEY = re.compile(r"([A-Za-z0-9_\-][A-Za-z0-9_.\-]*/)*[A-Za-z0-9_\-]([A-Za-z0-9_.\-() ]*[A-Za-z0-9_.\-()])?")
_PLAIN_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


#: The headers of boto3's PutObject that moto keeps as the object's metadata (its ``metadata_from_headers``):
#: the default content type, and the payload mode of a request whose CRC32 travels in a trailer.
_PUT_HEADERS = {"Content-Type": "binary/octet-stream", "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"}


def _http_date(value: str) -> Any:
    """botocore's timestamp for an HTTP date header (``Thu, 03 Dec 2026 18:20:14 GMT``), without dateutil."""
    from botocore.utils import parse_timestamp
    from dateutil.tz import tzutc

    if value.endswith(" GMT"):
        return email.utils.parsedate_to_datetime(value).replace(tzinfo=tzutc())
    return parse_timestamp(value)


class WorldS3:
    """boto3's S3 client for this region (``client``, or one made on first use, inside the runner's moto world);
    ``get_object`` and ``put_object`` handle the plain case in moto's store and hand everything else to it."""

    def __init__(self, region: str, client: Any = None):
        self.region = region
        self._client = client
        self._parser = None
        self._response_algorithms: list[str] | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client("s3", region_name=self.region, config=Config(**CLIENT_CONFIG))
        return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def get_object(self, **params: Any) -> dict:
        answer = self._from_store(params)
        return answer if answer is not None else self.client.get_object(**params)

    def put_object(self, **params: Any) -> dict:
        answer = self._into_store(params)
        return answer if answer is not None else self.client.put_object(**params)

    def _into_store(self, params: dict) -> dict | None:
        """PutObject's answer for the plain case (bytes into a plain bucket, CRC32 as boto3 adds by default),
        the object stored as moto's ``put_object`` stores what boto3 sends; or None for boto3 to do it."""
        from moto.s3.utils import compute_checksum, metadata_from_headers

        if not (params.keys() == {"Bucket", "Key", "Body"} and isinstance(params["Body"], bytes)
                and self.client.meta.config.request_checksum_calculation == "when_supported"
                and isinstance(params["Key"], str) and _PLAIN_KEY.fullmatch(params["Key"])):
            return None
        bucket = self._plain_bucket(params["Bucket"])
        if bucket is None or bucket.object_lock_enabled or bucket.notification_configuration:
            return None
        backend = self._backend()
        checksum = compute_checksum(params["Body"], algorithm="CRC32").decode("ascii")
        key = backend.put_object(bucket.name, params["Key"], params["Body"], storage="STANDARD",
                                 checksum_value=checksum)
        key.set_metadata(metadata_from_headers(_PUT_HEADERS))
        key.set_acl(bucket.acl)
        key.website_redirect_location = None
        key.checksum_algorithm = "CRC32"
        backend.put_object_tagging(key, {})
        headers = {"x-amz-checksum-crc32": checksum, **key.response_dict, "x-amz-sdk-checksum-algorithm": "CRC32"}
        return self._parsed("PutObject", 200, headers, b"")

    def _from_store(self, params: dict) -> dict | None:
        """GetObject's answer for the plain case, or None for boto3 to answer."""
        if not params.keys() <= {"Bucket", "Key", "Range"}:
            return None
        bucket_name, key_name, wanted = params.get("Bucket"), params.get("Key"), params.get("Range")
        if not (isinstance(key_name, str) and _PLAIN_KEY.fullmatch(key_name)):
            return None
        span = _PLAIN_RANGE.fullmatch(wanted) if isinstance(wanted, str) else None
        if wanted is not None and span is None:
            return None
        key = self._plain_object(bucket_name, key_name)
        if key is None:
            return None
        headers = {**key.response_dict, **self._checksum(key), **key.metadata, "Accept-Ranges": "bytes"}
        value = key.value
        status = 200
        if span is not None:
            begin, end, last = int(span[1]), int(span[2]) if span[2] else None, len(value) - 1
            if begin > last or (end is not None and end < begin):
                return None  # moto refuses it (InvalidRange) or answers it whole: boto3 says which
            end = last if end is None else min(end, last)
            if begin or end < last:  # a part of the object comes without the object's checksum
                headers = {name: v for name, v in headers.items() if not name.startswith("x-amz-checksum-")}
            value = value[begin:end + 1]
            headers.update({"content-range": f"bytes {begin}-{end}/{last + 1}", "content-length": str(len(value))})
            status = 206
        return self._parsed("GetObject", status, headers, value)

    def _checksum(self, key: Any) -> dict[str, str]:
        """The checksum headers moto answers with when asked (boto3 asks by default: ChecksumMode=ENABLED)."""
        if self.client.meta.config.response_checksum_validation != "when_supported" or not key.checksum_algorithm:
            return {}
        value = key.checksum_value
        if key.checksum_type == "COMPOSITE":
            value = f"{value}-{key.checksum_parts}"
        headers = {f"x-amz-checksum-{key.checksum_algorithm.lower()}": value}
        return {**headers, "x-amz-checksum-type": key.checksum_type} if key.checksum_type else headers

    def _backend(self) -> Any:
        """moto's S3 for the account boto3's mocked credentials belong to, in this region's partition."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends
        from moto.utilities.utils import get_partition

        return s3_backends[DEFAULT_ACCOUNT_ID][get_partition(self.region)]

    def _plain_bucket(self, bucket_name: Any) -> Any:
        """moto's record of the bucket when it is in this region and has no policy or versioning, else None."""
        if not (isinstance(bucket_name, str) and _PLAIN_BUCKET.fullmatch(bucket_name)):
            return None
        bucket = self._backend().buckets.get(bucket_name)
        if bucket is None or bucket.policy or bucket.is_versioned or bucket.region_name != self.region:
            return None
        return bucket

    def _plain_object(self, bucket_name: str, key_name: str) -> Any:
        """moto's record of the object when nothing but reading it is involved, else None."""
        from moto.s3.models import FakeKey

        bucket = self._plain_bucket(bucket_name)
        if bucket is None:
            return None
        key = bucket.keys.get(key_name)
        if not isinstance(key, FakeKey) or key.storage_class != "STANDARD" or key.version_id != "null":
            return None
        return key

    def _parsed(self, operation_name: str, status: int, headers: dict, body: bytes) -> dict:
        """The answer as botocore makes it of moto's: its REST-XML parser over these headers and body."""
        from botocore.awsrequest import HeadersDict
        from botocore.parsers import RestXMLParser

        if self._parser is None:
            self._parser = RestXMLParser(timestamp_parser=_http_date)
        operation = self.client.meta.service_model.operation_model(operation_name)
        headers = HeadersDict(headers)
        answer = self._parser.parse({"status_code": status, "headers": headers,
                                     "body": self._checked(operation, headers, body) if operation.has_streaming_output
                                     else body}, operation.output_shape)
        answer["ResponseMetadata"]["RetryAttempts"] = 0
        return answer

    def _checked(self, operation: Any, headers: Any, body: bytes) -> Any:
        """The body as botocore hands it over: checked against the answer's checksum as it is read, when there
        is one botocore can check (``botocore.httpchecksum.handle_checksum_body``)."""
        from botocore import httpchecksum
        from botocore.response import StreamingBody

        if self._response_algorithms is None:  # the same for every GetObject: worked out once
            request = {"context": {}}
            httpchecksum.resolve_response_checksum_algorithms(request, operation, {"ChecksumMode": "ENABLED"})
            self._response_algorithms = request["context"].get("checksum", {}).get("response_algorithms", [])
        raw = io.BytesIO(body)
        for algorithm in self._response_algorithms:
            expected = headers.get(f"x-amz-checksum-{algorithm}")
            if expected is not None and "-" not in expected:
                return httpchecksum.StreamingChecksumBody(raw, headers.get("content-length"),
                                                          httpchecksum._CHECKSUM_CLS[algorithm](), expected)
        return StreamingBody(raw, len(body))
