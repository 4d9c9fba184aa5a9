"""Settings from the environment (digitlab.config)."""

from __future__ import annotations

import sys

import pytest

from digitlab import config


@pytest.mark.parametrize(("environment", "expected"), [
    ({}, False), ({"CI": "true"}, True), ({"DIGITLAB_QUICK": "1"}, True),
    ({"CI": "true", "DIGITLAB_QUICK": "0"}, False), ({"DIGITLAB_QUICK": " "}, False),
])
def test_quick_mode_follows_the_environment(monkeypatch, environment, expected):
    for name in ("CI", "DIGITLAB_QUICK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert config.quick_mode() is expected


def test_malloc_arenas_are_capped_on_linux_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert config.cap_malloc_arenas() is sys.platform.startswith("linux")
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert config.cap_malloc_arenas() is False
