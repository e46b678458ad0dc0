"""Settings: API keys parsed and kept only as hashes, and bounds that must agree."""

from __future__ import annotations

import hashlib
import os

import pytest
from pydantic import SecretStr, ValidationError

from conveyor import Settings
from conveyor.settings import hash_key, key_matches


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read CONVEYOR_* variables: keep the caller's out of these tests."""
    for name in os.environ:
        if name.startswith("CONVEYOR_"):
            monkeypatch.delenv(name)


def test_api_keys_map_hashes_to_tenants():
    """'tenant:key' pairs (spaces and empty items tolerated) become SHA-256 digest
    → tenant; the keys themselves are kept nowhere in clear."""
    settings = Settings(api_keys=SecretStr(" acme:k-one , globex:k:two,, "))
    keys = settings.tenant_keys()
    expected = {
        hashlib.sha256(b"k-one").hexdigest(): "acme",
        hashlib.sha256(b"k:two").hexdigest(): "globex",
    }
    assert keys == expected, f"expected {expected}, got {keys}"
    assert "k-one" not in repr(settings), "expected the key hidden in repr"


def test_key_matches_compares_with_the_digest():
    """A presented key matches its stored digest and nothing else."""
    stored = hash_key("secret")
    assert key_matches("secret", stored), "expected the right key to match"
    assert not key_matches("Secret", stored), "expected another key not to match"


@pytest.mark.parametrize("value", ["acme", "acme:", ":key", "acme: ", "a:b,broken"])
def test_malformed_api_keys_refused(value: str):
    """Malformed api_keys are refused with the expected format in the message."""
    with pytest.raises(ValidationError, match="tenant:key"):
        Settings(api_keys=SecretStr(value))


@pytest.mark.parametrize(("heartbeat_s", "lease_ttl_s"), [(30.0, 30.0), (40.0, 30.0)])
def test_heartbeat_must_be_shorter_than_lease(heartbeat_s: float, lease_ttl_s: float):
    """A heartbeat not shorter than the lease TTL is refused, naming both."""
    with pytest.raises(ValidationError, match="heartbeat_s must be shorter"):
        Settings(heartbeat_s=heartbeat_s, lease_ttl_s=lease_ttl_s)


def test_defaults_are_consistent():
    """The defaults validate: heartbeat shorter than the lease, no API keys."""
    settings = Settings(api_keys=SecretStr(""))
    assert settings.heartbeat_s < settings.lease_ttl_s, f"got {settings}"
    assert settings.tenant_keys() == {}, "expected no keys by default"
