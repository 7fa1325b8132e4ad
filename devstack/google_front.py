"""What a GKE pod with Workload Identity talks to for storage, on 127.0.0.1, over MinIO.

Two small HTTP servers stand in for Google's side, which cannot run here:

* a metadata server, as GKE's Workload Identity serves one to every pod: it hands out OAuth 2.0
  access tokens (``/computeMetadata/v1/instance/service-accounts/default/token``) to requests
  with ``Metadata-Flavor: Google``; google-auth finds it through ``GCE_METADATA_HOST`` /
  ``GCE_METADATA_IP`` (``pod_env``);
* a storage front, as GCS's XML API: a request must carry ``Authorization: Bearer <token>``
  with a token the metadata server issued and that has not expired, else 401 with GCS's
  ``AuthenticationRequired``; the request then goes on, unsigned, to a real MinIO whose bucket
  admits anonymous requests (``open_bucket``), so multipart uploads, ranges and listings are
  MinIO's own.

    front = GoogleFront(s3_server).start()
    env = front.pod_env()          # for the Ray worker's runtime_env
    front.endpoint_url             # the connection's endpoint_url
    front.stop()
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SERVICE_ACCOUNT = "ray-worker@devstack-project.iam.gserviceaccount.com"
PROJECT = "devstack-project"
# Headers that belong to one hop, never forwarded.
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "host", "authorization"}


def open_bucket(server: Any) -> None:
    """Let anonymous requests do anything in ``server``'s bucket (the front checks tokens)."""
    bucket = server.bucket
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["*"]},
                "Action": ["s3:*"],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            }
        ],
    }
    server.client().set_bucket_policy(bucket, json.dumps(policy))


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class GoogleFront:
    """The metadata server and the storage front, over ``backend`` (a started ``S3Server``)."""

    backend: Any
    token_seconds: int = 3600
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expires at
    issued: int = 0
    refused: int = 0
    forwarded: int = 0
    _servers: list[ThreadingHTTPServer] = field(default_factory=list)
    _http: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def metadata_host(self) -> str:
        return f"127.0.0.1:{self._servers[0].server_address[1]}"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._servers[1].server_address[1]}"

    def pod_env(self, home: str) -> dict[str, str]:
        """The environment of a GKE pod: the metadata server, no other Google credentials
        (``home`` is an empty gcloud config directory)."""
        return {
            "GCE_METADATA_HOST": self.metadata_host,
            "GCE_METADATA_IP": self.metadata_host,
            "CLOUDSDK_CONFIG": home,
            "GOOGLE_APPLICATION_CREDENTIALS": "",
        }

    def issue(self) -> dict[str, Any]:
        token = "ya29.devstack-" + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[token] = time.time() + self.token_seconds
            self.issued += 1
        return {"access_token": token, "expires_in": self.token_seconds, "token_type": "Bearer"}

    def live(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            expires = self.tokens.get(token) if scheme == "Bearer" else None
        return expires is not None and expires > time.time()

    def start(self) -> GoogleFront:
        import urllib3

        self._http = urllib3.PoolManager(maxsize=8)
        self._servers = [
            ThreadingHTTPServer(("127.0.0.1", 0), self._metadata_handler()),
            ThreadingHTTPServer(("127.0.0.1", 0), self._storage_handler()),
        ]
        for server in self._servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []

    def _metadata_handler(self) -> type[BaseHTTPRequestHandler]:
        front = self
        prefix = "/computeMetadata/v1/"

        class Metadata(_Quiet):
            def do_GET(self) -> None:
                flavor = {"Metadata-Flavor": "Google"}
                if self.headers.get("Metadata-Flavor") != "Google":
                    self.reply(403, b"Missing Metadata-Flavor:Google header.", flavor)
                    return
                path = self.path.split("?", 1)[0]
                # The account answers by its alias and by its email, as on GKE.
                path = path.replace(f"/{SERVICE_ACCOUNT}/", "/default/")
                account = prefix + "instance/service-accounts/default/"
                text = {
                    "/": "computeMetadata/\n",
                    prefix + "project/project-id": PROJECT,
                    prefix + "universe/universe-domain": "googleapis.com",
                    account + "email": SERVICE_ACCOUNT,
                }
                if path in text:
                    self.reply(200, text[path].encode(), {**flavor, "Content-Type": "text/plain"})
                    return
                documents = {
                    account: {
                        "aliases": ["default"],
                        "email": SERVICE_ACCOUNT,
                        "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                    },
                }
                if path == account + "token":
                    document: Any = front.issue()
                elif path in documents:
                    document = documents[path]
                else:
                    self.reply(404, b"not found", flavor)
                    return
                body = json.dumps(document).encode()
                self.reply(200, body, {**flavor, "Content-Type": "application/json"})

        return Metadata

    def _storage_handler(self) -> type[BaseHTTPRequestHandler]:
        front = self

        class Storage(_Quiet):
            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if not front.live(self.headers.get("Authorization", "")):
                    with front._lock:
                        front.refused += 1
                    error = (
                        "<?xml version='1.0' encoding='UTF-8'?><Error><Code>"
                        "AuthenticationRequired</Code><Message>Authentication required."
                        "</Message></Error>"
                    )
                    self.reply(401, error.encode(), {"Content-Type": "application/xml"})
                    return
                self.forward(body)

            def forward(self, body: bytes) -> None:
                import urllib3

                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in HOP_HEADERS
                }
                response = front._http.request(
                    self.command,
                    front.backend.endpoint_url + self.path,
                    body=body or None,
                    headers=headers,
                    preload_content=True,
                    redirect=False,
                    retries=urllib3.Retry(0),
                )
                with front._lock:
                    front.forwarded += 1
                self.send_response(response.status)
                head = self.command == "HEAD"  # its Content-Length is the object's: kept
                skip = HOP_HEADERS if head else HOP_HEADERS | {"content-length"}
                for name, value in response.headers.items():
                    if name.lower() not in skip:
                        self.send_header(name, value)
                if not head:
                    self.send_header("Content-Length", str(len(response.data)))
                self.end_headers()
                if not head:
                    self.wfile.write(response.data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

        return Storage


__all__ = ["GoogleFront", "open_bucket"]
