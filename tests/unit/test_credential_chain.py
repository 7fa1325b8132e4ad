"""The AWS chain a Ray worker walks when its connection has no keys.

Environment keys and broken set-ups need no server. The metadata services (EC2's IMDSv2, EKS
Pod Identity's container endpoint) are AWS's own and cannot run here: a small stand-in on
127.0.0.1 answers in their format, reached through the variables the AWS SDKs read.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ray_provider.runtime import credential_chain, sts
from ray_provider.runtime.credential_chain import RefreshingCredentials, find_credentials
from ray_provider.runtime.errors import StoreCredentialsError

NO_METADATA = {"AWS_EC2_METADATA_DISABLED": "true"}


def keys_json(access_key: str, seconds: float = 3600) -> str:
    expires = datetime.fromtimestamp(time.time() + seconds, UTC)
    return json.dumps(
        {
            "Code": "Success",
            "AccessKeyId": access_key,
            "SecretAccessKey": "metadata-secret",
            "Token": "metadata-token",
            "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )


@pytest.fixture
def metadata():
    """IMDSv2 and a container-credentials endpoint, answering as AWS's do."""
    seen: list[tuple[str, str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, body: str, status: int = 200) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self):
            seen.append(("PUT", self.path, dict(self.headers)))
            if self.path == "/latest/api/token":
                return self.answer("imds-session")
            self.answer("", 404)

        def do_GET(self):
            seen.append(("GET", self.path, dict(self.headers)))
            roles = "/latest/meta-data/iam/security-credentials/"
            if self.path.startswith(roles):
                if self.headers.get("X-aws-ec2-metadata-token") != "imds-session":
                    return self.answer("", 401)
                if self.path == roles:
                    return self.answer("worker-role\n")
                if self.path == roles + "worker-role":
                    return self.answer(keys_json("FROM-IMDS"))
            if self.path == "/pod-identity":
                if self.headers.get("Authorization") != "pod-token":
                    return self.answer('{"Code": "AccessDenied", "Message": "bad token"}', 403)
                return self.answer(keys_json("FROM-POD-IDENTITY"))
            self.answer("", 404)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.seen = seen
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_environment_keys_come_first():
    env = {"AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"}
    found = find_credentials("us-east-1", environ={**env, **NO_METADATA})
    creds = found.provider.retrieve()
    assert (creds.access_key, creds.session_token) == ("ENVKEY", "t")
    assert "environment temporary keys AWS_ACCESS_KEY_ID='ENVKEY'" in found.source


def test_half_an_environment_key_pair_is_an_error_not_anonymous():
    with pytest.raises(StoreCredentialsError, match="AWS_SECRET_ACCESS_KEY is not set"):
        find_credentials("us-east-1", environ={"AWS_ACCESS_KEY_ID": "k", **NO_METADATA})


def test_a_token_file_without_a_role_names_the_annotation_that_sets_both(tmp_path):
    env = {"AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "token"), **NO_METADATA}
    with pytest.raises(StoreCredentialsError, match="AWS_ROLE_ARN is not") as info:
        find_credentials("us-east-1", environ=env)
    assert "eks.amazonaws.com/role-arn" in str(info.value)


def test_an_unreadable_token_file_is_named(tmp_path):
    env = {
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "missing"),
        "AWS_ROLE_ARN": "arn:aws:iam::1:role/r",
        **NO_METADATA,
    }
    with pytest.raises(StoreCredentialsError, match=r"missing.*projected token volume"):
        find_credentials("us-east-1", environ=env)


def test_nothing_found_is_anonymous_and_says_what_was_looked_at():
    found = find_credentials("us-east-1", environ=NO_METADATA)
    assert found.provider is None
    assert "anonymous" in found.source and "AWS_WEB_IDENTITY_TOKEN_FILE" in found.source
    assert "instance metadata disabled (AWS_EC2_METADATA_DISABLED)" in found.source


def test_instance_metadata_gives_the_roles_keys_with_an_imdsv2_session(metadata):
    found = find_credentials(
        "us-east-1", environ={"AWS_EC2_METADATA_SERVICE_ENDPOINT": metadata.url}
    )
    creds = found.provider.retrieve()
    assert (creds.access_key, creds.session_token) == ("FROM-IMDS", "metadata-token")
    assert f"instance metadata at {metadata.url}" in found.source
    assert metadata.seen[0][:2] == ("PUT", "/latest/api/token")


def test_no_instance_metadata_within_a_second_ends_anonymous(metadata):
    # A port where nothing listens, on 127.0.0.1: the "not on EC2" case, quickly.
    closed = metadata.url.rsplit(":", 1)[0] + ":9"
    started = time.monotonic()
    found = find_credentials("us-east-1", environ={"AWS_EC2_METADATA_SERVICE_ENDPOINT": closed})
    assert found.provider is None and "did not answer" in found.source
    assert time.monotonic() - started < 10


def test_container_credentials_send_the_pod_identity_token_from_its_file(metadata, tmp_path):
    token = tmp_path / "eks-pod-identity-token"
    token.write_text("pod-token\n")
    env = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"{metadata.url}/pod-identity",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token),
        **NO_METADATA,
    }
    found = find_credentials("us-east-1", environ=env)
    assert found.provider.retrieve().access_key == "FROM-POD-IDENTITY"
    assert "container credentials" in found.source

    token.write_text("stale")
    with pytest.raises(StoreCredentialsError, match=r"HTTP 403.*AccessDenied.*bad token"):
        find_credentials("us-east-1", environ=env)


def test_keys_are_fetched_again_before_they_expire():
    issued = []

    def fetch():
        issued.append(len(issued))
        left = 60 if len(issued) == 1 else 3600  # the first ones are about to expire
        return sts.TemporaryCredentials(f"K{len(issued)}", "s", "t", time.time() + left)

    provider = RefreshingCredentials(fetch)
    assert provider.retrieve().access_key == "K1"
    assert provider.retrieve().access_key == "K2"  # 60 s left < REFRESH_MARGIN_SECONDS
    assert provider.retrieve().access_key == "K2" and provider.fetches == 2
    assert credential_chain.REFRESH_MARGIN_SECONDS > 60
