"""The chart's Azure store (``store.kind: azureblob``) on 127.0.0.1: s3proxy over Azurite.

On AKS the checkpoints and task logs go to an Azure Storage account through an S3 gateway,
s3proxy, which signs in to Azure with the pod's workload identity: Azure's identity library
reads the projected service-account token (``AZURE_FEDERATED_TOKEN_FILE``), trades it at
Microsoft Entra ID for an access token, and sends that as ``Authorization: Bearer`` to Blob
Storage. No Azure key exists. Here the same pinned jar runs through the image's own entrypoint
(``docker/s3proxy/entrypoint.sh``) against:

* ``AzuriteServer``: Azurite, Azure's storage emulator (npm), over HTTPS with ``--oauth basic``,
  so it takes bearer tokens as Blob Storage does (Azure's SDKs send tokens over HTTPS only);
* ``EntraStandIn``: the token endpoint of Entra ID as a workload identity meets it (instance
  discovery, then ``/<tenant>/oauth2/v2.0/token`` with the projected token as the client
  assertion). Like a federated credential, it trusts only the assertions it was told to
  (``trust``) and answers anything else with Entra's AADSTS700213 refusal.

The gateway's Java process resolves one name, ``login.microsoftonline.com``, to 127.0.0.1 (a
hosts file of its own, ``-Djdk.net.hosts.file``) and no other name at all, so nothing it does
leaves this machine; the identity library's managed identity step, should it get that far, is
pointed at a closed port of 127.0.0.1. ``make tools`` fetches the jar and Azurite
(``docker/local/gateway-tools.sh``); Java and Node.js come from the machine.

    gateway = AzureBlobGateway.with_stand_ins(bucket="checkpoints").start()
    gateway.client().list_buckets()        # S3, with the gateway's keys
    gateway.discard()                      # the gateway, Azurite and the token endpoint
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import json
import secrets
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from devstack.processes import StartFailed, free_port, port_open, start, stop_tree, wait_until
from devstack.s3_server import ROOT, START_TIMEOUT, S3Server, binary_cache, pinned_version

ENTRYPOINT = ROOT / "docker" / "s3proxy" / "entrypoint.sh"
TENANT_ID = "7f0c1d2e-0000-4000-8000-00000000de55"
CLIENT_ID = "3b9e4c1a-0000-4000-8000-00000000a7e5"
# Azurite's built-in account, which it serves at https://127.0.0.1:PORT/devstoreaccount1.
ACCOUNT = "devstoreaccount1"
# The Entra host the identity library knows (others need an instance discovery it asks of this
# one); the gateway's JVM, alone, resolves it to 127.0.0.1.
AUTHORITY_NAME = "login.microsoftonline.com"
STORAGE_AUDIENCE = "https://storage.azure.com"
TRUST_STORE_PASSWORD = "devstack"


def s3proxy_jar() -> Path:
    jar = binary_cache() / "lib" / f"s3proxy-{pinned_version('S3PROXY_VERSION')}.jar"
    if not jar.is_file():
        raise FileNotFoundError(
            f"s3proxy's jar is missing ({jar}): fetch it with `make tools` (it runs "
            "`bash docker/local/gateway-tools.sh`)."
        )
    return jar


def azurite_blob() -> Path:
    home = binary_cache() / f"azurite-{pinned_version('AZURITE_VERSION')}"
    script = home / "node_modules" / ".bin" / "azurite-blob"
    if not script.exists():
        raise FileNotFoundError(
            f"Azurite is missing ({script}): install it with `make tools` (it runs "
            "`bash docker/local/gateway-tools.sh`; needs Node.js and npm)."
        )
    return script


@dataclass
class TlsFiles:
    """A self-signed certificate for the stand-ins' HTTPS and a Java trust store holding it."""

    home: Path

    @property
    def cert(self) -> Path:
        return self.home / "cert.pem"

    @property
    def key(self) -> Path:
        return self.home / "key.pem"

    @property
    def trust_store(self) -> Path:
        return self.home / "trust.p12"

    def make(self) -> TlsFiles:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.home.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "devstack azure stand-ins")])
        now = datetime.datetime.now(datetime.UTC)
        names = [
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.DNSName("localhost"),
            x509.DNSName(AUTHORITY_NAME),
        ]
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        self.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.key.chmod(0o600)
        self.trust_store.unlink(missing_ok=True)
        keytool = shutil.which("keytool") or "keytool"
        subprocess.run(
            [
                *(keytool, "-importcert", "-noprompt", "-alias", "devstack"),
                *("-file", str(self.cert), "-keystore", str(self.trust_store)),
                *("-storetype", "PKCS12", "-storepass", TRUST_STORE_PASSWORD),
            ],
            check=True,
            capture_output=True,
        )
        return self

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def _unsigned_jwt(claims: dict[str, Any]) -> str:
    """A JWT in Entra's access token shape. Azurite's ``--oauth basic`` checks its issuer,
    audience and lifetime, not its signature, so none is made."""

    def part(document: dict[str, Any]) -> str:
        raw = json.dumps(document, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT', 'kid': 'devstack'})}.{part(claims)}.c2ln"


@dataclass
class EntraStandIn:
    """Entra ID's instance discovery and token endpoint, over HTTPS on 127.0.0.1."""

    tls: TlsFiles
    client_id: str = CLIENT_ID
    token_seconds: int = 3600
    trusted: set[str] = field(default_factory=set)
    issued: int = 0
    refused: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("EntraStandIn is not started")
        return self._server.server_address[1]

    @property
    def authority_host(self) -> str:
        """``AZURE_AUTHORITY_HOST`` of the gateway (resolved through its own hosts file)."""
        return f"https://{AUTHORITY_NAME}:{self.port}/"

    def trust(self, assertion: str) -> None:
        """Accept ``assertion`` (a projected token) from now on, as a federated credential does
        for its issuer and subject."""
        with self._lock:
            self.trusted.add(assertion)

    def token_response(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "client_credentials" or form.get("client_assertion_type") != (
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ):
            return 400, {"error": "unsupported_grant_type", "error_description": "AADSTS70003"}
        with self._lock:
            known = form.get("client_assertion") in self.trusted
            if not known or form.get("client_id") != self.client_id:
                self.refused += 1
                return 400, {
                    "error": "invalid_client",
                    "error_description": (
                        "AADSTS700213: No matching federated identity record found for "
                        "presented assertion subject."
                    ),
                }
            self.issued += 1
        now = int(time.time())
        claims = {
            "iss": f"https://sts.windows.net/{TENANT_ID}/",
            "aud": STORAGE_AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + self.token_seconds,
            "appid": self.client_id,
            "oid": secrets.token_hex(8),
            "tid": TENANT_ID,
        }
        return 200, {
            "token_type": "Bearer",
            "expires_in": self.token_seconds,
            "ext_expires_in": self.token_seconds,
            "access_token": _unsigned_jwt(claims),
        }

    def start(self) -> EntraStandIn:
        entra = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, document: dict[str, Any]) -> None:
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                host = self.headers.get("Host", f"{AUTHORITY_NAME}:{entra.port}")
                tenant = f"https://{host}/{TENANT_ID}"
                if self.path.startswith("/common/discovery/instance"):
                    self.reply(
                        200,
                        {
                            "tenant_discovery_endpoint": (
                                f"{tenant}/v2.0/.well-known/openid-configuration"
                            ),
                            "api-version": "1.1",
                            "metadata": [
                                {
                                    "preferred_network": host,
                                    "preferred_cache": host,
                                    "aliases": [host],
                                }
                            ],
                        },
                    )
                elif self.path.endswith("/.well-known/openid-configuration"):
                    self.reply(
                        200,
                        {
                            "issuer": f"{tenant}/v2.0",
                            "token_endpoint": f"{tenant}/oauth2/v2.0/token",
                            "authorization_endpoint": f"{tenant}/oauth2/v2.0/authorize",
                        },
                    )
                else:
                    self.reply(404, {"error": "not_found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                fields = parse_qs(self.rfile.read(length).decode())
                form = {name: values[0] for name, values in fields.items()}
                if self.path.split("?", 1)[0] != f"/{TENANT_ID}/oauth2/v2.0/token":
                    self.reply(400, {"error": "invalid_tenant", "error_description": "AADSTS90002"})
                    return
                self.reply(*entra.token_response(form))

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.socket = self.tls.server_context().wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@dataclass
class AzuriteServer:
    """Azurite's Blob service on 127.0.0.1 over HTTPS, taking OAuth bearer tokens."""

    tls: TlsFiles
    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def account_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def log_path(self) -> Path:
        return self.root.with_name(self.root.name + f".azurite-{self.port}.log")

    def start(self) -> AzuriteServer:
        self.root.mkdir(parents=True, exist_ok=True)
        command = [
            str(azurite_blob()),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(self.port),
            "--location",
            str(self.root),
            "--cert",
            str(self.tls.cert),
            "--key",
            str(self.tls.key),
            "--oauth",
            "basic",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--loose",
        ]
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(self.root)}
        self.process = start(command, self.log_path, env=env, cwd=self.root)
        try:
            wait_until(self._up, START_TIMEOUT, f"Azurite on port {self.port}")
        except BaseException:
            self.stop()
            raise
        return self

    def _up(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise StartFailed(f"Azurite exited while starting; see {self.log_path}")
        return port_open(self.port)

    def stop(self) -> None:
        if self.process is not None:
            stop_tree(self.process.pid)
            self.process.log_file.close()
            self.process = None


@dataclass
class AzureBlobGateway(S3Server):
    """s3proxy's S3 API on ``port`` (keys ``access_key``/``secret_key``), Azure behind it.

    ``token_file`` is the projected service-account token; None leaves
    ``AZURE_FEDERATED_TOKEN_FILE`` unset, as in a pod without a workload identity.
    """

    azurite: AzuriteServer | None = None
    entra: EntraStandIn | None = None
    token_file: Path | None = None
    # Stand-ins this gateway started itself (``with_stand_ins``), stopped by ``discard``.
    owns_stand_ins: bool = False

    name = "s3proxy"

    @classmethod
    def with_stand_ins(cls, **kwargs: Any) -> AzureBlobGateway:
        """A gateway with its own Azurite, Entra stand-in and projected token (trusted)."""
        base = Path(tempfile.mkdtemp(prefix="azure-"))
        tls = TlsFiles(base / "tls").make()
        entra = EntraStandIn(tls).start()
        try:
            azurite = AzuriteServer(tls, base / "azurite").start()
        except BaseException:
            entra.stop()
            raise
        token_file = base / "azure-identity-token"
        token_file.write_text(secrets.token_urlsafe(32))
        entra.trust(token_file.read_text())
        parts = {"azurite": azurite, "entra": entra, "token_file": token_file}
        return cls(**parts, owns_stand_ins=True, **kwargs)

    def sibling(self, **changes: Any) -> AzureBlobGateway:
        """Another gateway process over the same Azurite and Entra stand-in."""
        fields = {"azurite": self.azurite, "entra": self.entra, "token_file": self.token_file}
        return AzureBlobGateway(bucket=self.bucket, **{**fields, **changes})

    @property
    def hosts_file(self) -> Path:
        return self.home / "hosts"

    def command(self) -> list[str]:
        s3proxy_jar()  # fails with how to fetch it before anything starts
        return ["/bin/sh", str(ENTRYPOINT)]

    def env(self) -> dict[str, str]:
        if self.azurite is None or self.entra is None:
            raise RuntimeError("AzureBlobGateway needs an Azurite and an Entra stand-in")
        tls = self.entra.tls
        java_options = [
            f"-Djdk.net.hosts.file={self.hosts_file}",
            f"-Djavax.net.ssl.trustStore={tls.trust_store}",
            f"-Djavax.net.ssl.trustStorePassword={TRUST_STORE_PASSWORD}",
            "-Xmx384m",
        ]
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AZURE_STORAGE_ACCOUNT_URL": self.azurite.account_url,
            # What AKS's workload identity webhook sets in the pod.
            "AZURE_CLIENT_ID": self.entra.client_id,
            "AZURE_TENANT_ID": TENANT_ID,
            "AZURE_AUTHORITY_HOST": self.entra.authority_host,
            # The managed identity step's address, should the chain get that far: closed.
            "AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:9",
            "S3PROXY_BIND": "127.0.0.1",
            "S3PROXY_PORT": str(self.port),
            "S3PROXY_CONFIG": str(self.home / "s3proxy.conf"),
            "S3PROXY_JAR": str(s3proxy_jar()),
            "JAVA_OPTS": " ".join(java_options),
            "LOG_LEVEL": "warn",
        }
        if self.token_file is not None:
            env["AZURE_FEDERATED_TOKEN_FILE"] = str(self.token_file)
        return {**env, **self.extra_env}

    def ready(self) -> bool:
        return port_open(self.port)

    def ports(self) -> list[int]:
        return [self.port]

    def describe(self) -> str:
        return (
            f"s3proxy {pinned_version('S3PROXY_VERSION')} (azureblob-sdk, workload identity) "
            f"over Azurite {pinned_version('AZURITE_VERSION')}, 127.0.0.1"
        )

    def start(self) -> AzureBlobGateway:
        self.home.mkdir(parents=True, exist_ok=True)
        self.hosts_file.write_text(f"127.0.0.1 {AUTHORITY_NAME}\n")
        super().start()  # its bucket is made through the gateway: a first token exchange
        return self

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def discard(self) -> None:
        super().discard()
        if self.owns_stand_ins:
            with contextlib.suppress(Exception):
                if self.azurite is not None:
                    self.azurite.stop()
                    shutil.rmtree(self.azurite.root.parent, ignore_errors=True)
            if self.entra is not None:
                self.entra.stop()


__all__ = ["AzureBlobGateway", "AzuriteServer", "EntraStandIn", "TlsFiles"]
