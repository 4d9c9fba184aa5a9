"""The MNIST loader: idx parsing, checksums, search order, downloads, the CLI."""

from __future__ import annotations

import gzip
import hashlib
import socket
import struct
import urllib.request

import numpy as np
import pytest

from digitlab import cli, data
from digitlab.data import DataError, parse_idx


# --- Small idx files written by the tests ---------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_fake_mnist(folder, n_train=12, n_test=5, gz=True, monkeypatch=None):
    """Four tiny, valid idx files; their checksums are patched in when monkeypatch is given."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    folder.mkdir(parents=True, exist_ok=True)
    sums = {}
    for name, array in arrays.items():
        raw = idx_bytes(array)
        sums[name] = hashlib.sha256(raw).hexdigest()
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    if monkeypatch is not None:
        monkeypatch.setattr(data, "CHECKSUMS", sums)
    return arrays


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $DIGITLAB_DATA, and the repository folder moved to an empty temporary one."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEFAULT_DIR", tmp_path / "repo-data-mnist")
    return tmp_path


# --- The idx parser ---------------------------------------------------------


def test_parse_valid_images_and_labels():
    images = np.arange(2 * 28 * 28, dtype=np.uint64).reshape(2, 28, 28) % 256
    parsed = parse_idx(idx_bytes(images))
    assert parsed.dtype == np.uint8 and parsed.shape == (2, 28, 28)
    np.testing.assert_array_equal(parsed, images)
    np.testing.assert_array_equal(parse_idx(idx_bytes([3, 1, 4])), [3, 1, 4])


def test_parse_rejects_wrong_magic():
    raw = bytearray(idx_bytes([1, 2, 3]))
    raw[2] = 0x0D  # float type code
    with pytest.raises(DataError, match="magic"):
        parse_idx(bytes(raw), "labels.idx")


def test_parse_rejects_truncated_data():
    raw = idx_bytes(np.zeros((3, 28, 28)))
    with pytest.raises(DataError, match="truncated"):
        parse_idx(raw[:-10], "images.idx")
    with pytest.raises(DataError, match="too short"):
        parse_idx(raw[:3], "images.idx")


def test_parse_rejects_wrong_length():
    raw = idx_bytes([1, 2, 3]) + b"\x00"
    with pytest.raises(DataError, match=r"shape \(3,\)"):
        parse_idx(raw, "labels.idx")


def test_gzipped_and_plain_files_read_the_same(tmp_path):
    raw = idx_bytes([5, 6, 7])
    (tmp_path / "plain").write_bytes(raw)
    (tmp_path / "packed.gz").write_bytes(gzip.compress(raw))
    assert data.read_unpacked(tmp_path / "plain") == data.read_unpacked(tmp_path / "packed.gz") == raw


def test_damaged_gzip_is_named(tmp_path):
    broken = tmp_path / "x.gz"
    broken.write_bytes(gzip.compress(idx_bytes([1] * 1000))[:20])
    with pytest.raises(DataError, match="x.gz"):
        data.read_unpacked(broken)


def flipped_in_the_middle(packed: bytes) -> bytes:
    """A gzip file with one byte of its deflate stream changed: whole in length, wrong inside."""
    middle = len(packed) // 2
    return packed[:middle] + bytes([packed[middle] ^ 0xFF]) + packed[middle + 1:]


def test_a_gzip_damaged_inside_is_named(tmp_path):
    packed = gzip.compress(idx_bytes(np.random.default_rng(0).integers(0, 10, 5000)))
    whole, broken = tmp_path / "whole.gz", tmp_path / "x.gz"
    whole.write_bytes(packed)
    broken.write_bytes(flipped_in_the_middle(packed))
    assert len(data.read_unpacked(whole)) == 4 + 4 + 5000
    with pytest.raises(DataError, match="x.gz: .*damaged gzip file"):
        data.read_unpacked(broken)


# --- Checksums ----------------------------------------------------------------


def test_checksum_mismatch_names_the_file(tmp_path, monkeypatch, isolated):
    arrays = write_fake_mnist(tmp_path / "d", monkeypatch=monkeypatch)
    bad = tmp_path / "d" / "t10k-labels-idx1-ubyte.gz"
    flipped = (arrays["t10k-labels-idx1-ubyte"] + 1) % 10
    bad.write_bytes(gzip.compress(idx_bytes(flipped)))  # valid idx, wrong contents
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz.*sha256"):
        data.load_mnist(tmp_path / "d")


def test_real_checksums_are_the_standard_ones():
    assert data.CHECKSUMS["train-images-idx3-ubyte"].startswith("ba891046")
    assert data.CHECKSUMS["t10k-labels-idx1-ubyte"].startswith("ff7bcfd4")
    assert len(set(data.CHECKSUMS.values())) == 4


# --- Search order -------------------------------------------------------------


def test_explicit_path_wins_over_environment(tmp_path, monkeypatch, isolated):
    write_fake_mnist(tmp_path / "explicit", n_train=7, monkeypatch=monkeypatch)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "nowhere"))
    (x_train, _), _ = data.load_mnist(tmp_path / "explicit")
    assert x_train.shape == (7, 28, 28)


def test_environment_wins_over_repository_folder(tmp_path, monkeypatch, isolated):
    write_fake_mnist(tmp_path / "env", n_train=8, monkeypatch=monkeypatch)
    write_fake_mnist(data.DEFAULT_DIR, n_train=9, gz=False)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    location = data.find_mnist()
    assert location.source == "$DIGITLAB_DATA" and location.folder == tmp_path / "env"
    assert data.load_mnist()[0][0].shape == (8, 28, 28)


def test_repository_folder_is_used_last(tmp_path, monkeypatch, isolated):
    arrays = write_fake_mnist(data.DEFAULT_DIR, n_train=9, gz=False, monkeypatch=monkeypatch)
    (x_train, y_train), (x_test, y_test) = data.load_mnist(download=False)
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte"])
    assert x_test.shape == (5, 28, 28) and x_train.dtype == np.uint8


def test_environment_pointing_at_empty_folder_is_an_error(tmp_path, monkeypatch, isolated):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "empty"))
    with pytest.raises(DataError, match=r"\$DIGITLAB_DATA.*lacks train-images-idx3-ubyte"):
        data.load_mnist()


def test_nothing_found_without_download_lists_the_places(isolated):
    with pytest.raises(DataError, match="MNIST not found in") as error:
        data.load_mnist(download=False)
    assert str(data.DEFAULT_DIR) in str(error.value) and "DIGITLAB_DATA" in str(error.value)
    assert "\n" not in str(error.value)


def test_data_check_without_mnist_says_where_it_looked_and_how_to_fix_it(isolated, capsys):
    from digitlab.cli import main

    assert main(["data"]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"digitlab data: MNIST not found in {data.DEFAULT_DIR}")
    assert "digitlab data download" in error and len(error.splitlines()) == 1


# --- Downloads (served from a fake opener, never the network) -------------


class FakeResponse:
    def __init__(self, payload: bytes):
        self.payload, self.offset = payload, 0
        self.headers = {"Content-Length": str(len(payload))}

    def read(self, size):
        chunk = self.payload[self.offset:self.offset + size]
        self.offset += size
        return chunk

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("first_mirror", ["refuses", "serves a damaged file"])
def test_download_tries_mirrors_in_turn_and_verifies(tmp_path, monkeypatch, isolated, first_mirror):
    arrays = write_fake_mnist(tmp_path / "source", monkeypatch=monkeypatch)
    asked = []

    def fake_urlopen(url, timeout):
        asked.append(url)
        payload = (tmp_path / "source" / url.rsplit("/", 1)[1]).read_bytes()
        if not url.startswith("https://first.invalid/"):
            return FakeResponse(payload)
        if first_mirror == "refuses":
            raise OSError("connection refused")
        return FakeResponse(flipped_in_the_middle(payload))

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    monkeypatch.setattr(data, "MIRRORS", ("https://first.invalid/", "https://second.invalid/"))
    (_, y_train), _ = data.load_mnist()
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte"])
    assert sorted(p.name for p in data.DEFAULT_DIR.iterdir()) == sorted(f"{n}.gz" for n in data.FILES)
    assert asked[0].startswith("https://first.invalid/") and asked[1].startswith("https://second.invalid/")


def test_failed_download_leaves_nothing_half_written(tmp_path, monkeypatch, isolated):
    write_fake_mnist(tmp_path / "source", monkeypatch=monkeypatch)

    def corrupt_urlopen(url, timeout):
        payload = (tmp_path / "source" / url.rsplit("/", 1)[1]).read_bytes()
        return FakeResponse(payload[: len(payload) // 2])  # cut off mid-way

    monkeypatch.setattr(urllib.request, "urlopen", corrupt_urlopen)
    with pytest.raises(DataError, match="could not download train-images-idx3-ubyte.gz") as error:
        data.load_mnist()
    assert "DIGITLAB_DATA" in str(error.value)
    assert not data.DEFAULT_DIR.exists()  # not even an empty folder, where the download made it


def test_failed_download_keeps_a_folder_that_was_there(tmp_path, monkeypatch, isolated):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: FakeResponse(b"not gzip"))
    data.DEFAULT_DIR.mkdir(parents=True)
    (data.DEFAULT_DIR / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="could not download"):
        data.download_mnist(progress=False)
    assert [p.name for p in data.DEFAULT_DIR.iterdir()] == ["notes.txt"]


def test_download_replaces_a_damaged_copy_and_keeps_good_ones(tmp_path, monkeypatch, isolated):
    arrays = write_fake_mnist(tmp_path / "source", monkeypatch=monkeypatch)
    folder = data.DEFAULT_DIR
    write_fake_mnist(folder)  # the same four files, already downloaded
    damaged = folder / "t10k-labels-idx1-ubyte.gz"
    damaged.write_bytes(flipped_in_the_middle(damaged.read_bytes()))
    asked = []

    def fake_urlopen(url, timeout):
        asked.append(url.rsplit("/", 1)[1])
        return FakeResponse((tmp_path / "source" / asked[-1]).read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz"):
        data.load_mnist()  # loading names the damaged file and downloads nothing
    assert asked == []
    data.download_mnist(progress=False)
    assert asked == ["t10k-labels-idx1-ubyte.gz"]  # only the damaged one is fetched again
    _, (_, y_test) = data.load_mnist()
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])


def test_no_network_gives_one_clear_error(monkeypatch, isolated):
    # The autouse guard in conftest refuses any non-loopback connection.
    monkeypatch.setattr(data, "MIRRORS", ("http://192.0.2.1/mnist/",))
    with pytest.raises(DataError, match="MNIST not found in .*, and could not download") as error:
        data.load_mnist()
    assert "\n" not in str(error.value)


def test_tests_cannot_reach_the_network():
    with pytest.raises(OSError, match="must not touch the network"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)


# --- The real data --------------------------------------------------------


@pytest.mark.slow
def test_full_mnist_from_environment(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert np.bincount(y_train, minlength=10)[0] == 5923
    assert np.bincount(y_test, minlength=10)[0] == 980
    assert np.bincount(y_train).sum() == 60000 and set(np.unique(y_test)) == set(range(10))
    assert x_train.min() == 0 and x_train.max() == 255


# --- The CLI ------------------------------------------------------------------


def test_cli_data_verifies_real_data(mnist, capsys):
    assert cli.main(["data"]) == 0
    out = capsys.readouterr().out
    assert "verified" in out


def test_cli_data_on_empty_folder_fails_clearly(tmp_path, capsys, isolated):
    assert cli.main(["data", "--path", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "lacks" in err and str(tmp_path) in err


@pytest.mark.parametrize("command", [["train", "--model", "digit_cnn", "--quick"], ["evaluate"]])
def test_commands_that_need_mnist_say_where_it_is_missing_in_one_line(command, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))  # a folder without the four files: nothing is downloaded
    assert cli.main([*command, *(["--out", str(tmp_path / "m.keras")] if command[0] == "train" else [])]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"digitlab {command[0]}: ") and "lacks" in err and str(tmp_path) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "m.keras").exists()


def test_python_dash_m_digitlab_is_the_command_with_its_exit_status(tmp_path):
    """``python -m digitlab`` runs the command where it is not installed (a GPU machine without pip access)."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "digitlab", "data", "--path", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "lacks" in result.stderr and result.stderr.startswith("digitlab data: ")


def test_test_halves_split_the_test_digits_in_two_without_touching_the_training_digits():
    train = (np.zeros((3, 28, 28), np.uint8), np.zeros(3, np.uint8))
    x_test = np.arange(10000, dtype=np.int32)[:, None, None] * np.ones((1, 28, 28), np.int32)
    mnist = (train, (x_test, np.arange(10000) % 10))
    halves = {half: data.test_half(mnist, half) for half in data.TEST_HALVES}
    development, benchmark = (halves[half][1][0][:, 0, 0] for half in ("development", "benchmark"))
    assert len(development) == len(benchmark) == 5000
    assert np.union1d(development, benchmark).tolist() == list(range(10000))
    # Half of each NIST block (digits 0-4999 by SD-3 writers, 5000-9999 by SD-1 writers) in each half.
    assert (development < 5000).sum() == (benchmark < 5000).sum() == 2500
    assert halves["benchmark"][1][1].tolist() == (benchmark % 10).tolist()  # labels stay with their digits
    assert halves["development"][0] is train


def test_test_half_refuses_unknown_halves_and_other_test_sets():
    mnist = ((None, None), (np.zeros((10000, 28, 28), np.uint8), np.zeros(10000, np.uint8)))
    with pytest.raises(ValueError, match="development"):
        data.test_half(mnist, "dev")
    with pytest.raises(ValueError, match="10,000"):
        data.test_half(((None, None), (np.zeros((400, 28, 28)), np.zeros(400))), "benchmark")


def test_download_without_a_network_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    from digitlab import data
    from digitlab.cli import main

    # Nothing listens on the loopback discard port: every mirror refuses at once, as with no network.
    monkeypatch.setattr(data, "MIRRORS", ("http://127.0.0.1:9/", "http://127.0.0.1:9/mirror2/"))
    assert main(["data", "download", "--to", str(tmp_path / "mnist")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "could not download train-images-idx3-ubyte.gz from any of 2 mirrors" in err and "$DIGITLAB_DATA" in err
    assert not (tmp_path / "mnist").exists()  # no partial files left, nor the folder it made


def test_download_into_a_folder_it_cannot_make_says_so_before_downloading(tmp_path, monkeypatch, capsys):
    from digitlab import data
    from digitlab.cli import main

    monkeypatch.setattr(data, "_fetch", lambda *args: pytest.fail("downloaded before checking --to"))
    (tmp_path / "a_file").write_text("not a folder")
    to = tmp_path / "a_file" / "mnist"  # a folder that cannot be made, as root too
    assert main(["data", "download", "--to", str(to)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"digitlab data download: {to}: cannot write there (Not a directory)")
    assert len(error.splitlines()) == 1 and (tmp_path / "a_file").read_text() == "not a folder"


# --- Gzip bombs (issue 23) --------------------------------------------------------


def gzip_bomb(path, head: bytes = b"", zeros: int = 2**28, block: int = 2**24) -> None:
    """A valid gzip file of ``head`` then ``zeros`` zero bytes (256 MiB: a multiple of ``block``) in a few
    hundred KB, made in a moment: after a full flush each block compresses to the same bytes."""
    import zlib

    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(head + bytes(block)) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(bytes(block)) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(head)
    for _ in range(zeros // block):
        crc = zlib.crc32(bytes(block), crc)
    trailer = struct.pack("<II", crc, (len(head) + zeros) % 2**32)
    path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + first + again * (zeros // block - 1)
                     + compressor.flush() + trailer)


@pytest.mark.parametrize("head, message", [
    (b"", "bad idx magic number 0x00000000"),
    (struct.pack(">HBBIII", 0, 8, 3, 60000, 28, 28), r"longer than its header says \(shape \(60000, 28, 28\)\)"),
    (struct.pack(">HBBIII", 0, 8, 3, 6_000_000, 28, 28), "larger than any MNIST file"),
], ids=["zeros", "MNIST's header, then more", "a header larger than MNIST"])
def test_a_gzip_bomb_in_the_mnist_folder_fails_fast_in_bounded_memory(tmp_path, monkeypatch, isolated, head, message):
    """An 8 MB gzip bomb took 5.3 GB before MemoryError; this one unpacks to 256 MiB."""
    import tracemalloc

    write_fake_mnist(tmp_path / "mnist", monkeypatch=monkeypatch)
    bomb = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    gzip_bomb(bomb, head)
    assert bomb.stat().st_size < 2**20
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=f"train-images-idx3-ubyte.gz: .*{message}"):
            data.load_mnist(tmp_path / "mnist")
        assert tracemalloc.get_traced_memory()[1] < 2**27  # 128 MiB: the largest MNIST file is 47 MB
    finally:
        tracemalloc.stop()
