"""The local world's S3 client answers GetObject exactly as boto3 into moto does, field for field."""

import io

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from moto import mock_aws

from scones.workflow.world_s3 import WorldS3

BUCKET = "scones-images"
DATA = bytes(range(256)) * 12  # 3,072 bytes


@pytest.fixture
def world(monkeypatch):
    """(the world's client, boto3's client, the list of requests the world's client handed to boto3)."""
    with mock_aws():
        real = boto3.client("s3", region_name="us-east-1")
        real.create_bucket(Bucket=BUCKET)
        real.put_object(Bucket=BUCKET, Key="inputs/run/00001-photo.png", Body=DATA)
        world = WorldS3("us-east-1")
        handed = []
        through_boto3 = world.client.get_object
        monkeypatch.setattr(world.client, "get_object", lambda **params: (handed.append(params),
                                                                          through_boto3(**params))[1])
        yield world, real, handed


def _same_answer(world_answer: dict, boto3_answer: dict) -> None:
    world_body, boto3_body = world_answer.pop("Body"), boto3_answer.pop("Body")
    assert type(world_body) is type(boto3_body), "checked against its checksum as boto3 checks it, or not"
    assert world_body.read() == boto3_body.read()
    world_meta, boto3_meta = world_answer.pop("ResponseMetadata"), boto3_answer.pop("ResponseMetadata")
    assert world_meta["HTTPStatusCode"] == boto3_meta["HTTPStatusCode"]
    assert world_answer == boto3_answer
    assert {type(value) for value in world_answer.values()} == {type(value) for value in boto3_answer.values()}


@pytest.mark.parametrize("wanted", [None, "bytes=0-184320", "bytes=10-20", "bytes=100-", "bytes=3071-3071",
                                    "bytes=0-0"])
def test_a_plain_read_is_answered_from_the_store_as_boto3_answers_it(world, wanted):
    world, real, handed = world
    params = {"Bucket": BUCKET, "Key": "inputs/run/00001-photo.png", **({"Range": wanted} if wanted else {})}
    _same_answer(world.get_object(**params), real.get_object(**params))
    assert handed == [], "answered from moto's store"


def test_content_type_metadata_tags_and_encryption_come_back_as_boto3_gives_them(world):
    world, real, handed = world
    real.put_object(Bucket=BUCKET, Key="tagged.jpg", Body=b"jpeg", ContentType="image/jpeg",
                    Metadata={"camera": "phone"}, Tagging="team=waste", ServerSideEncryption="AES256",
                    CacheControl="no-cache", ContentDisposition="inline")
    params = {"Bucket": BUCKET, "Key": "tagged.jpg", "Range": "bytes=0-184320"}
    _same_answer(world.get_object(**params), real.get_object(**params))
    assert handed == []


@pytest.mark.parametrize("params", [
    {"Key": "missing.png"},                                     # NoSuchKey
    {"Key": "empty.png", "Range": "bytes=0-184320"},            # InvalidRange
    {"Key": "inputs/run/00001-photo.png", "Range": "bytes=5000-"},  # past the end: InvalidRange
    {"Key": "inputs/run/00001-photo.png", "Range": "bytes=20-10"},  # backwards: moto answers it whole
    {"Key": "inputs/run/00001-photo.png", "Range": "bytes=-100"},   # a suffix range
    {"Key": "a+b=c.png"},                                       # a key URL-encoding changes
    {"Key": "inputs/run/00001-photo.png", "IfMatch": "nope"},   # a parameter the store does not read
])
def test_anything_else_goes_through_boto3_and_is_answered_as_boto3_answers(world, params):
    world, real, handed = world
    real.put_object(Bucket=BUCKET, Key="empty.png", Body=b"")
    real.put_object(Bucket=BUCKET, Key="a+b=c.png", Body=b"plus")
    params = {"Bucket": BUCKET, **params}
    try:
        expected = real.get_object(**params)
    except ClientError as exc:
        with pytest.raises(ClientError) as raised:
            world.get_object(**params)
        assert raised.value.response["Error"] == exc.response["Error"]
    else:
        _same_answer(world.get_object(**params), expected)
    assert handed == [params]


def test_a_missing_bucket_a_versioned_bucket_and_an_archived_object_go_through_boto3(world):
    world, real, handed = world
    with pytest.raises(ClientError, match="NoSuchBucket"):
        world.get_object(Bucket="no-such-bucket", Key="a.png")
    real.create_bucket(Bucket="versioned")
    real.put_bucket_versioning(Bucket="versioned", VersioningConfiguration={"Status": "Enabled"})
    real.put_object(Bucket="versioned", Key="a.png", Body=b"v1")
    _same_answer(world.get_object(Bucket="versioned", Key="a.png"), real.get_object(Bucket="versioned", Key="a.png"))
    real.put_object(Bucket=BUCKET, Key="cold.png", Body=b"cold", StorageClass="GLACIER")
    with pytest.raises(ClientError, match="InvalidObjectState"):
        world.get_object(Bucket=BUCKET, Key="cold.png")
    assert [p["Bucket"] for p in handed] == ["no-such-bucket", "versioned", BUCKET]


def test_bad_parameters_are_refused_as_boto3_refuses_them(world):
    world, real, _ = world
    for params in ({"Bucket": BUCKET}, {"Bucket": BUCKET, "Key": "a.png", "Range": 5},
                   {"Bucket": "Bad/Bucket", "Key": "a.png"}, {"Bucket": BUCKET, "Key": "a.png", "Rnage": "x"}):
        with pytest.raises(ParamValidationError) as expected:
            real.get_object(**params)
        with pytest.raises(ParamValidationError) as raised:
            world.get_object(**params)
        assert str(raised.value) == str(expected.value)


def test_every_other_operation_is_boto3s(world):
    world, real, _ = world
    assert world.head_object(Bucket=BUCKET, Key="inputs/run/00001-photo.png")["ContentLength"] == len(DATA)
    assert world.meta.region_name == "us-east-1"


def test_a_bucket_policy_is_enforced_as_moto_enforces_it(world):
    import json

    world, real, handed = world
    real.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}]}))
    params = {"Bucket": BUCKET, "Key": "inputs/run/00001-photo.png"}
    with pytest.raises(ClientError) as expected:
        real.get_object(**params)
    with pytest.raises(ClientError) as raised:
        world.get_object(**params)
    assert raised.value.response["Error"] == expected.value.response["Error"]
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403 and handed == [params]


#: What differs between two objects stored a moment apart under two names.
_MOMENT = {"name", "last_modified", "_time_progressed", "_value_buffer", "lock", "_metadata"}


def _stored(key) -> dict:
    return {**{n: v for n, v in vars(key).items() if n not in _MOMENT}, "value": key.value,
            "metadata": dict(key.metadata)}


def test_a_plain_put_stores_the_object_boto3_would_and_answers_as_boto3(world):
    from moto.s3.models import s3_backends

    world, real, handed = world
    body = bytes(range(256)) * 7
    put_world = world.put_object(Bucket=BUCKET, Key="inputs/run/00002-world.png", Body=body)
    put_boto3 = real.put_object(Bucket=BUCKET, Key="inputs/run/00002-boto3.png", Body=body)
    assert put_world.pop("ResponseMetadata")["HTTPStatusCode"] == put_boto3.pop("ResponseMetadata")["HTTPStatusCode"]
    assert put_world == put_boto3
    backend = s3_backends["123456789012"]["aws"]
    keys = backend.buckets[BUCKET].keys
    by_world, by_boto3 = keys["inputs/run/00002-world.png"], keys["inputs/run/00002-boto3.png"]
    assert _stored(by_world) == _stored(by_boto3)
    assert backend.tagger.get_tag_dict_for_resource(by_world.arn) == backend.tagger.get_tag_dict_for_resource(
        by_boto3.arn)
    for wanted in (None, "bytes=0-184320", "bytes=7-9"):
        params = {"Range": wanted} if wanted else {}
        got_world = real.get_object(Bucket=BUCKET, Key="inputs/run/00002-world.png", **params)
        got_boto3 = real.get_object(Bucket=BUCKET, Key="inputs/run/00002-boto3.png", **params)
        got_world.pop("LastModified"), got_boto3.pop("LastModified")
        _same_answer(got_world, got_boto3)
    assert handed == []


@pytest.mark.parametrize("params", [
    {"Key": "a.png", "Body": b"x", "ContentType": "image/png"},   # a parameter the plain put does not set
    {"Key": "a.png", "Body": io.BytesIO(b"x")},                    # a stream, not bytes
    {"Key": "a+b.png", "Body": b"x"},                              # a key URL-encoding changes
    {"Key": "a.png"},                                              # no body
])
def test_any_other_put_goes_through_boto3(world, params, monkeypatch):
    world, real, _ = world
    handed = []
    through_boto3 = world.client.put_object
    monkeypatch.setattr(world.client, "put_object", lambda **p: (handed.append(p), through_boto3(**p))[1])
    world.put_object(Bucket=BUCKET, **params)
    assert len(handed) == 1
    with pytest.raises(ClientError, match="NoSuchBucket"):
        world.put_object(Bucket="no-such-bucket", Key="a.png", Body=b"x")
    assert len(handed) == 2


@pytest.mark.parametrize("name", ["a photo (1).png", "Screenshot 2024-01-01 at 12.00.00.png", "scan (2) .jpg"])
def test_a_photos_own_name_with_spaces_and_parentheses_is_stored_and_read_as_boto3_does(world, name, monkeypatch):
    from moto.s3.models import s3_backends

    world, real, handed = world
    monkeypatch.setattr(world.client, "put_object", lambda **params: pytest.fail(f"went through boto3: {params}"))
    key = f"inputs/run/00003-{name}"
    world.put_object(Bucket=BUCKET, Key=key, Body=b"photo bytes")
    real.put_object(Bucket=BUCKET, Key=f"by-boto3/{name}", Body=b"photo bytes")
    keys = s3_backends["123456789012"]["aws"].buckets[BUCKET].keys
    assert _stored(keys[key]) == _stored(keys[f"by-boto3/{name}"])
    params = {"Bucket": BUCKET, "Key": key, "Range": "bytes=0-184320"}
    _same_answer(world.get_object(**params), real.get_object(**params))
    assert handed == []
