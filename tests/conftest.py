"""Shared fixtures. No test may touch the network: sockets to anything but
loopback raise, so a forgotten download fails loudly instead of hanging."""

from __future__ import annotations

import ipaddress
import os
import socket

import numpy as np
import pytest


class NetworkAccessError(ConnectionRefusedError):
    pass


def _is_loopback(address) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):  # AF_UNIX paths and the like
        return True
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded(real):
    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise NetworkAccessError(f"tests must not touch the network (tried {address!r})")
        return real(self, address)

    return connect


def skip_here_fail_under_ci(what: str, reason: str) -> None:
    """Skip ``what`` on a developer machine; fail it under CI (``$CI`` set), which installs everything the tests
    need, so there nothing may pass by being skipped."""
    if os.environ.get("CI"):
        # ``from None``: called where a loader's error is being handled, the message says it all.
        raise pytest.fail.Exception(f"{what} must run under CI, but {reason}", pytrace=False) from None
    raise pytest.skip.Exception(reason) from None


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _guarded(_real_connect))
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded(_real_connect_ex))


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST, from $DIGITLAB_DATA (or data/mnist); skipped outside CI if absent."""
    from digitlab.data import DataError, load_mnist

    try:
        return load_mnist(download=False)
    except DataError as error:
        skip_here_fail_under_ci("every test that reads MNIST", f"MNIST is not available: {error}")


@pytest.fixture(scope="session")
def quick_model(tmp_path_factory, mnist):
    """A digit_cnn trained for seconds on 2,000 images (saved and reloaded)."""
    from digitlab.card import save_model
    from digitlab.model import digit_cnn, load_model
    from digitlab.train import train

    (x_train, y_train), _ = mnist
    model = digit_cnn()
    train(model, x_train, y_train, quick=True, verbose=0)
    path = tmp_path_factory.mktemp("models") / "quick.keras"
    save_model(model, path)
    return load_model(path)


@pytest.fixture(scope="session")
def benchmark():
    """``benchmark("real_strokes")``: that script of ``benchmarks/`` imported as a module (the folder is no package)."""
    import importlib.util
    from pathlib import Path

    def load(name: str):
        path = Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def unavailable(request):
    """``unavailable(reason)``: :func:`skip_here_fail_under_ci` for the test that asks."""
    def unavailable(reason: str):
        skip_here_fail_under_ci(request.node.name, reason)

    return unavailable


@pytest.fixture(scope="session")
def real_choose_half():
    """The "choose" half of the real-stroke digits (``$DIGITLAB_UNIPEN`` or ``../shared/unipen-dev``); skipped
    outside CI when the file is absent, as it is for users."""
    from digitlab import unipen
    from digitlab.data import DataError

    try:
        return unipen.writers_half(unipen.load_digits(), "choose")
    except DataError as error:
        skip_here_fail_under_ci("every test that reads real strokes",
                                f"the real-stroke digits are not available: {error}")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def pad():
    """A DigitPad that reads only when asked (test_widget*.py)."""
    from digitlab.widget import DigitPad

    return DigitPad(auto_read=False)


@pytest.fixture(scope="module")
def shipped_reader():
    """The reader of the shipped models, loaded once per test module."""
    from digitlab.reader import Reader

    return Reader.default()


@pytest.fixture(scope="session")
def reader(quick_model):
    """A contour reader with the quick model: right structure, not accurate digits (test_reader*.py)."""
    from digitlab.reader import Reader

    return Reader(quick_model, method="contours")


@pytest.fixture(scope="session")
def five_digits(mnist):
    """One seeded string of five MNIST test digits, twice MNIST's size."""
    from digitlab.synth import make_dataset

    return make_dataset(1, length=5, seed=7, mnist=mnist, scale=2.0)[0]
