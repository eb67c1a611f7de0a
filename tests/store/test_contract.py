"""One suite, both artifact stores: the local folder and S3 (against moto)."""

import boto3
import pytest
from moto import mock_aws

from scones.errors import InvalidInput, NotFound
from scones.store import open_store


@pytest.fixture(params=["file", "s3"])
def store(request, tmp_path):
    if request.param == "file":
        yield open_store(f"file://{tmp_path}/store")
        return
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="bkt")
        yield open_store("s3://", lambda service, region=None: client)


def test_put_get_exists(store):
    store.put_bytes("s3://bkt/a/b.txt", b"x")
    assert store.get_bytes("s3://bkt/a/b.txt") == b"x"
    assert store.exists("s3://bkt/a/b.txt") and not store.exists("s3://bkt/a/c.txt")
    with pytest.raises(NotFound):
        store.get_bytes("s3://bkt/a/missing.txt")


def test_prefixes_match_whole_segments(store):
    for key in ("data/train/1.png", "data/train/sub/2.png", "data/train2/3.png"):
        store.put_bytes(f"s3://bkt/{key}", key.encode())
    assert [u for u, _ in store.list("s3://bkt/data/train")] == [
        "s3://bkt/data/train/1.png", "s3://bkt/data/train/sub/2.png"]


def test_download_keeps_relative_paths_and_single_objects_keep_their_name(store, tmp_path):
    store.put_bytes("s3://bkt/p/x/1.txt", b"1")
    store.put_bytes("s3://bkt/p/model.tar.gz", b"m")
    written = store.download("s3://bkt/p/x", tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == ["1.txt"]
    store.download("s3://bkt/p/model.tar.gz", tmp_path / "model")
    assert (tmp_path / "model" / "model.tar.gz").read_bytes() == b"m"


def test_sharded_download_gives_each_instance_a_disjoint_share_that_covers_the_prefix(store, tmp_path):
    keys = [f"p/{c}/{i}.png" for c in ("a", "b") for i in range(4)] + ["p/a/deep/x.png"]
    for key in keys:
        store.put_bytes(f"s3://bkt/{key}", key.encode())
    shares = [{p.relative_to(tmp_path / f"i{i}").as_posix()
               for p in store.download("s3://bkt/p", tmp_path / f"i{i}", shard=(i, 3))} for i in range(3)]
    assert sorted(len(share) for share in shares) == [3, 3, 3], "about 1/n each"
    assert set.union(*shares) == {key[len("p/"):] for key in keys} and sum(map(len, shares)) == len(keys)


def test_upload_folder_and_fingerprint(store, tmp_path):
    folder = tmp_path / "f"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    assert store.upload(folder, "s3://bkt/up") == ["s3://bkt/up/a.txt", "s3://bkt/up/sub/b.txt"]
    before = store.fingerprint("s3://bkt/up")
    store.put_bytes("s3://bkt/up/a.txt", b"A")
    assert store.fingerprint("s3://bkt/up") != before


def test_keys_cannot_escape(store):
    with pytest.raises(InvalidInput):
        store.put_bytes("s3://bkt/../etc/passwd", b"x")


def test_store_sync_mirrors_a_folder_deletions_included(store, tmp_path):
    folder = tmp_path / "images"
    for name in ("a/1.png", "a/2.png", "b/3.png"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(name.encode())
    store.sync(folder, "s3://bkt/data/images")
    before = store.fingerprint("s3://bkt/data/images")
    (folder / "a" / "2.png").unlink()
    store.sync(folder, "s3://bkt/data/images")
    assert [uri for uri, _ in store.list("s3://bkt/data/images")] == [
        "s3://bkt/data/images/a/1.png", "s3://bkt/data/images/b/3.png"]
    assert store.fingerprint("s3://bkt/data/images") != before
    store.delete("s3://bkt/data/images/a/1.png")
    store.delete("s3://bkt/data/images/never-was.png")  # missing: not an error
    assert not store.exists("s3://bkt/data/images/a/1.png")
