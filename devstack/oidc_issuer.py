"""An OpenID Connect issuer on 127.0.0.1: what a cluster's service-account issuer is to STS.

EKS (IRSA), GKE and AKS sign each pod's projected service-account token with a key published
at their issuer's ``/.well-known/openid-configuration`` and JWKS; STS trusts the issuer and
trades a token for a role's temporary keys. MinIO's STS does the same given
``MINIO_IDENTITY_OPENID_CONFIG_URL`` (``S3Server(extra_env=issuer.minio_env(...))``), so the
web identity path of the store runs here against real servers.

    issuer = OidcIssuer().start()
    token = issuer.token("system:serviceaccount:airflow:ray-worker", audience="sts.amazonaws.com")
    issuer.stop()
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KEY_ID = "devstack-issuer"


@dataclass
class OidcIssuer:
    """Discovery document and JWKS over HTTP; RS256 tokens signed with a key made at start."""

    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _key: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("OidcIssuer is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def start(self) -> OidcIssuer:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                documents = {
                    "/.well-known/openid-configuration": issuer.discovery(),
                    "/keys": issuer.jwks(),
                }
                body = json.dumps(documents.get(self.path, {})).encode()
                self.send_response(200 if self.path in documents else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(10)
            self._server = self._thread = None

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/keys",
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "aud", "exp", "iat", "iss"],
        }

    def jwks(self) -> dict[str, Any]:
        from jwt.algorithms import RSAAlgorithm

        jwk = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        return {"keys": [{**jwk, "kid": KEY_ID, "use": "sig", "alg": "RS256"}]}

    def token(self, subject: str, *, audience: str, seconds: int = 3600, **claims: Any) -> str:
        """A signed token as a kubelet projects it into a pod (``claims`` are added)."""
        import jwt

        now = int(time.time())
        payload = {
            "iss": self.url,
            "sub": subject,
            "aud": audience,
            "iat": now,
            "exp": now + seconds,
            **claims,
        }
        return jwt.encode(payload, self._key, algorithm="RS256", headers={"kid": KEY_ID})

    def minio_env(self, client_id: str, claim_name: str = "policy") -> dict[str, str]:
        """MinIO's settings to trust this issuer: a token's ``claim_name`` names its policy."""
        return {
            "MINIO_IDENTITY_OPENID_CONFIG_URL": self.discovery_url,
            "MINIO_IDENTITY_OPENID_CLIENT_ID": client_id,
            "MINIO_IDENTITY_OPENID_CLAIM_NAME": claim_name,
        }
