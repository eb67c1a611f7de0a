import hashlib
import http.server
import pickle
import tarfile
import threading
from functools import partial

import numpy as np
import pytest

from processing import cifar
from processing.synth import make_split, write_synthetic_archive


def test_fine_label_names_match_the_official_order():
    assert len(cifar.FINE_LABEL_NAMES) == 100
    assert cifar.FINE_LABEL_NAMES.index("bicycle") == 8
    assert cifar.FINE_LABEL_NAMES.index("motorcycle") == 48
    assert len(cifar.COARSE_LABEL_NAMES) == 20


def test_synthetic_archive_has_the_official_members(tiny_archive):
    with tarfile.open(tiny_archive) as tar:
        names = set(tar.getnames())
    assert {"cifar-100-python/meta", "cifar-100-python/train", "cifar-100-python/test"} <= names


@pytest.mark.parametrize("encoding, key", [("bytes", b"data"), ("latin1", "data")])
def test_synthetic_pickles_load_like_the_real_python2_ones(tiny_archive, encoding, key):
    """torchvision uses latin1 (str keys), older readers bytes: both must work, as on the real file."""
    with tarfile.open(tiny_archive) as tar:
        entry = pickle.load(tar.extractfile("cifar-100-python/train"), encoding=encoding)
    data = entry[key]
    assert data.dtype == np.uint8 and data.shape == (120, 3072)
    names = entry[b"filenames" if encoding == "bytes" else "filenames"]
    assert isinstance(names[0], bytes if encoding == "bytes" else str)
    labels = entry[b"fine_labels" if encoding == "bytes" else "fine_labels"]
    assert set(labels) == {8, 48}


def test_read_archive_round_trips_images_and_metadata(tmp_path):
    rng = np.random.default_rng(0)
    train = make_split("train", ["bicycle", "apple"], 3, rng)
    test = make_split("test", ["bicycle", "apple"], 2, rng, first_number=100)
    path = cifar.write_tarball(tmp_path / "a.tar.gz", train, test)
    archive = cifar.read_archive(path)
    assert archive.fine_label_names == cifar.FINE_LABEL_NAMES
    assert np.array_equal(archive.train.images, train.images)
    assert archive.train.filenames == train.filenames
    assert list(archive.test.fine_labels) == list(test.fine_labels)
    assert archive.train.images.shape == (6, 32, 32, 3)
    apple = cifar.FINE_LABEL_NAMES.index("apple")
    assert set(archive.train.coarse_labels[archive.train.fine_labels == apple]) == {
        cifar.COARSE_LABEL_NAMES.index("fruit_and_vegetables")}


def test_read_archive_names_a_missing_member(tmp_path):
    path = tmp_path / "broken.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(__file__, arcname="cifar-100-python/meta")
    with pytest.raises(cifar.CifarFormatError, match="meta: not a readable pickle"):
        cifar.read_archive(path)


def test_read_archive_refuses_a_non_tarball(tmp_path):
    path = tmp_path / "x.tar.gz"
    path.write_bytes(b"definitely not gzip")
    with pytest.raises(cifar.CifarFormatError, match="not a readable tar archive"):
        cifar.read_archive(path)


@pytest.fixture
def http_server(tmp_path):
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_checks_md5_and_caches(tmp_path, http_server):
    archive = write_synthetic_archive(tmp_path / "cifar-100-python.tar.gz", ["bicycle"], 2, 1)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    seen = []
    cache = tmp_path / "cache"
    first = cifar.download(f"{http_server}/cifar-100-python.tar.gz", cache, md5=md5,
                           progress=lambda done, total: seen.append((done, total)))
    assert first.read_bytes() == archive.read_bytes()
    assert seen[-1][0] == seen[-1][1] == archive.stat().st_size
    archive.unlink()  # the server no longer has it: a cached copy must be used
    assert cifar.download(f"{http_server}/cifar-100-python.tar.gz", cache, md5=md5) == first


def test_download_rejects_a_wrong_checksum_and_keeps_nothing(tmp_path, http_server):
    write_synthetic_archive(tmp_path / "cifar-100-python.tar.gz", ["bicycle"], 2, 1)
    cache = tmp_path / "cache"
    with pytest.raises(cifar.ChecksumError, match="MD5 mismatch"):
        cifar.download(f"{http_server}/cifar-100-python.tar.gz", cache, md5=cifar.CIFAR100_MD5)
    assert list(cache.iterdir()) == []


def test_download_names_the_url_when_unreachable(tmp_path, http_server):
    with pytest.raises(OSError, match="cannot download .*missing.tar.gz"):
        cifar.download(f"{http_server}/missing.tar.gz", tmp_path / "cache")


def test_locate_archive_accepts_a_folder(tmp_path, tiny_archive):
    assert cifar.locate_archive(tiny_archive.parent, tmp_path) == tiny_archive
    with pytest.raises(FileNotFoundError, match="no CIFAR-100 tarball"):
        cifar.locate_archive(tmp_path, tmp_path)
