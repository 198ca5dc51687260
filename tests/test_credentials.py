"""Secrets in URLs: masking in any text, the public form of a URL, and what holds the secrets."""

from __future__ import annotations

import pickle

import pytest

from prefetcher._credentials import Secrets, mask, public_url, secrets_of

PASSWORD = "Sec1@Ret2:Word3"


def test_mask_hides_a_password_that_contains_at_and_colon() -> None:
    text = f"cannot read smb://root:{PASSWORD}@10.0.0.5:445/share/1.png: gone"

    assert mask(text) == "cannot read smb://root:***@10.0.0.5:445/share/1.png: gone"


def test_mask_hides_every_link_of_a_chained_url() -> None:
    url = f"simplecache::smb://u:{PASSWORD}@host/share/1.png"

    assert mask(url) == "simplecache::smb://u:***@host/share/1.png"


@pytest.mark.parametrize(
    "parameter", ["token", "sig", "signature", "key", "password", "access_token", "X-Amz-Signature"]
)
def test_mask_hides_the_value_of_a_secret_query_parameter(parameter: str) -> None:
    url = f"https://host/a/1.png?n=1&{parameter}=TOPSECRET&x=2"

    assert mask(url) == f"https://host/a/1.png?n=1&{parameter}=***&x=2"


def test_mask_keeps_a_url_without_secrets_as_it_is() -> None:
    url = "smb://root@host:445/share/run/{}.png?n=1"

    assert mask(url) == url


def test_mask_hides_known_secrets_wherever_they_appear() -> None:
    text = f"logon failed for 'root' with {PASSWORD!r}, quoted Sec1%40Ret2%3AWord3"

    masked = mask(text, [PASSWORD])

    assert "Sec1" not in masked
    assert "Word3" not in masked


def test_mask_stops_a_url_at_white_space_and_quotes() -> None:
    text = "'smb://u:pw@host/s/1.png' and 'http://other/2.png'"

    assert mask(text) == "'smb://u:***@host/s/1.png' and 'http://other/2.png'"


def test_public_url_drops_the_password_and_keeps_the_user() -> None:
    assert public_url(f"smb://root:{PASSWORD}@h:445/s/1.png") == "smb://root@h:445/s/1.png"


def test_public_url_of_a_chained_url_with_a_token() -> None:
    url = f"simplecache::https://u:{PASSWORD}@h/1.png?token=abc"

    assert public_url(url) == "simplecache::https://u@h/1.png?token=***"


def test_secrets_of_finds_url_and_storage_option_secrets() -> None:
    found = secrets_of(
        f"smb://root:{PASSWORD}@h/s?sig=XYZ",
        {"password": "pw2", "client_kwargs": {"api_key": "k3"}, "port": 445},
    )

    assert {PASSWORD, "XYZ", "pw2", "k3"} <= found


def test_secrets_map_a_public_url_back_to_the_given_one() -> None:
    secrets = Secrets()
    given = f"smb://root:{PASSWORD}@h/s/1.png"

    public = secrets.add(given)

    assert public == "smb://root@h/s/1.png"
    assert secrets.url(public) == given


def test_secrets_repr_shows_no_secret() -> None:
    secrets = Secrets({"password": "pw2"})
    secrets.add(f"smb://root:{PASSWORD}@h/s/1.png")

    assert "pw2" not in repr(secrets)
    assert "Ret2" not in repr(secrets)


def test_secrets_pickle() -> None:
    secrets = Secrets({"password": "pw2"})
    public = secrets.add(f"smb://root:{PASSWORD}@h/s/1.png")

    copy = pickle.loads(pickle.dumps(secrets))

    assert copy == secrets
    assert copy.url(public) == secrets.url(public)
