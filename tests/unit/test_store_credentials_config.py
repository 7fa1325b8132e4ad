"""How a connection's fields become the store's credentials, before any request is sent."""

from __future__ import annotations

import pytest

from ray_provider.exceptions import CheckpointConfigError
from ray_provider.hooks.store_credentials import credentials_from_connection
from ray_provider.runtime import sts
from ray_provider.runtime.errors import StoreCredentialsError
from ray_provider.runtime.store import StoreConfig, access_denied


def resolve(login="key", password="secret", **extra):
    return credentials_from_connection("c", login, password, extra, "eu-west-1")


def test_keys_with_a_session_token_are_passed_as_temporary_keys():
    creds = resolve(aws_session_token="token")
    assert (creds.access_key, creds.secret_key, creds.session_token) == ("key", "secret", "token")
    assert "temporary keys" in creds.source and "secret" not in repr(creds)


def test_keys_may_come_from_the_amazon_providers_extra_fields():
    creds = resolve(None, None, aws_access_key_id="k2", aws_secret_access_key="s2")
    assert (creds.access_key, creds.secret_key, creds.session_token) == ("k2", "s2", None)


def test_no_keys_leaves_the_lookup_to_the_side_that_does_the_io():
    creds = resolve(None, None, endpoint_url="http://minio:9000")
    assert creds.access_key is None and creds.chain and "has no keys" in creds.source
    # A web identity token on the Ray side is traded at the connection's (MinIO's) STS.
    assert creds.sts_endpoint == "http://minio:9000"
    assert resolve(None, None).sts_endpoint == "https://sts.eu-west-1.amazonaws.com"


@pytest.mark.parametrize(("login", "password"), [("key", None), (None, "secret")])
def test_half_a_key_pair_is_refused_naming_the_missing_half(login, password):
    with pytest.raises(CheckpointConfigError, match="login" if login is None else "password"):
        resolve(login, password)


def test_a_role_without_keys_to_assume_it_is_refused():
    with pytest.raises(CheckpointConfigError, match="no keys to assume it with"):
        resolve(None, None, role_arn="arn:aws:iam::1:role/r")


@pytest.mark.parametrize("duration", [60, "soon", True])
def test_a_bad_duration_is_refused_naming_the_field(duration):
    with pytest.raises(CheckpointConfigError, match="DurationSeconds"):
        resolve(role_arn="arn:r", assume_role_kwargs={"DurationSeconds": duration})


def test_assume_role_kwargs_must_be_an_object():
    with pytest.raises(CheckpointConfigError, match="assume_role_kwargs"):
        resolve(role_arn="arn:r", assume_role_kwargs="ExternalId=x")


def test_the_sts_endpoint_is_the_s3_servers_or_the_regional_one():
    assert sts.sts_endpoint_for("eu-west-1", None) == "https://sts.eu-west-1.amazonaws.com"
    assert sts.sts_endpoint_for("cn-north-1", "") == "https://sts.cn-north-1.amazonaws.com.cn"
    assert sts.sts_endpoint_for("us-east-1", "http://minio:9000/") == "http://minio:9000"


def test_a_non_url_sts_endpoint_is_refused_before_any_request():
    with pytest.raises(StoreCredentialsError, match="sts_endpoint_url"):
        resolve(role_arn="arn:r", sts_endpoint_url="sts.example")


def test_stss_error_document_is_read_with_or_without_its_namespace():
    namespaced = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
        "<Code>AccessDenied</Code><Message>not authorized</Message></Error></ErrorResponse>"
    )
    plain = "<ErrorResponse><Error><Code>X</Code><Message>y</Message></Error></ErrorResponse>"
    assert sts._error_of(namespaced) == ("AccessDenied", "not authorized")
    assert sts._error_of(plain) == ("X", "y")
    assert sts._error_of("<html>gateway")[0] == "no STS error document"


def test_credentials_are_read_from_an_assume_role_answer():
    answer = (
        '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        "<AssumeRoleResult><Credentials><AccessKeyId>AK</AccessKeyId>"
        "<SecretAccessKey>SK</SecretAccessKey><SessionToken>TOK</SessionToken>"
        "<Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult>"
        "</AssumeRoleResponse>"
    )
    creds = sts._credentials_of(answer, "test")
    assert (creds.access_key, creds.secret_key, creds.session_token) == ("AK", "SK", "TOK")
    assert creds.expires_at == 1893456000.0 and "SK" not in repr(creds)
    with pytest.raises(StoreCredentialsError, match="holds no credentials"):
        sts._credentials_of("<AssumeRoleResponse/>", "test")


def test_an_access_denied_error_says_when_temporary_keys_expired():
    config = StoreConfig.for_endpoint(
        "http://127.0.0.1:9",
        "b",
        access_key="AK",
        secret_key="SK",
        session_token="TOK",
        expires_at=0.0,
        credential_source="role 'arn:r' assumed at http://127.0.0.1:9",
    )
    message = str(access_denied(config, "uploading s3://b/x", "ExpiredToken", "expired"))
    assert "role 'arn:r'" in message and "they expired" in message and "SK" not in message


@pytest.mark.parametrize("kind", ["auto", "aws", "google"])
def test_the_credential_chain_extra_picks_the_chain(kind):
    creds = resolve(None, None, credential_chain=kind)
    assert creds.chain and creds.chain_kind == kind


def test_an_unknown_credential_chain_is_refused_naming_the_choices():
    with pytest.raises(CheckpointConfigError, match=r"credential_chain='azure'.*auto, aws, google"):
        resolve(None, None, credential_chain="azure")


@pytest.mark.parametrize(
    ("endpoint", "kind", "google"),
    [
        ("https://storage.googleapis.com", "auto", True),
        ("https://my-bucket.storage.googleapis.com:443", "auto", True),
        ("https://s3.eu-west-1.amazonaws.com", "auto", False),
        ("https://notstorage.googleapis.com.evil.example", "auto", False),
        ("https://gcs.private.example", "google", True),
        ("https://storage.googleapis.com", "aws", False),
    ],
)
def test_a_keyless_store_uses_googles_chain_for_gcs_only(endpoint, kind, google):
    config = StoreConfig.for_endpoint(
        endpoint, "b", credential_chain=True, credential_chain_kind=kind
    )
    assert config.uses_google_chain is google


def test_a_store_with_keys_never_uses_a_chain():
    config = StoreConfig.for_endpoint(
        "https://storage.googleapis.com", "b", access_key="k", secret_key="s"
    )
    assert not config.uses_google_chain
