"""A real etcd (Debian's etcd-server) for the tests: one member on 127.0.0.1, its own data dir, free ports."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .promserver import free_port


@dataclass
class EtcdServer:
    data_dir: Path
    client_port: int
    peer_port: int
    tls: dict | None = None  # {"cert", "key", "ca"} paths: serve https and require client certificates
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def url(self) -> str:
        return f"{'etcds' if self.tls else 'etcd'}://{self.endpoint}"

    def _args(self) -> list[str]:
        scheme = "https" if self.tls else "http"
        client = f"{scheme}://{self.endpoint}"
        peer = f"http://127.0.0.1:{self.peer_port}"
        args = [shutil.which("etcd"), "--name", "x0ctl-test", "--data-dir", str(self.data_dir),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"x0ctl-test={peer}", "--log-level", "error", "--logger", "zap"]
        if self.tls:
            args += ["--cert-file", str(self.tls["cert"]), "--key-file", str(self.tls["key"]),
                     "--trusted-ca-file", str(self.tls["ca"]), "--client-cert-auth"]
        return args

    def start(self, timeout: float = 30.0) -> None:
        log = (self.data_dir.parent / f"{self.data_dir.name}.log").open("a")
        self.process = subprocess.Popen(self._args(), stdout=log, stderr=subprocess.STDOUT,
                                        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"etcd exited: {self.log_tail()}")
            if self.healthy():
                return
            time.sleep(0.1)
        raise RuntimeError(f"etcd did not become healthy: {self.log_tail()}")

    def healthy(self) -> bool:
        context = None
        if self.tls:
            context = ssl.create_default_context(cafile=str(self.tls["ca"]))
            context.load_cert_chain(str(self.tls["client_cert"]), str(self.tls["client_key"]))
        scheme = "https" if self.tls else "http"
        with contextlib.suppress(OSError, ValueError):
            with urllib.request.urlopen(f"{scheme}://{self.endpoint}/health", timeout=1,  # noqa: S310
                                        context=context) as response:
                return json.loads(response.read()).get("health") == "true"
        return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self.process = None

    def log_tail(self) -> str:
        path = self.data_dir.parent / f"{self.data_dir.name}.log"
        return path.read_text()[-1500:] if path.exists() else ""

    def etcdctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [shutil.which("etcdctl"), "--endpoints", f"{'https' if self.tls else 'http'}://{self.endpoint}"]
        if self.tls:
            command += ["--cacert", str(self.tls["ca"]), "--cert", str(self.tls["client_cert"]),
                        "--key", str(self.tls["client_key"])]
        return subprocess.run([*command, *args], capture_output=True, text=True, timeout=30, check=check,
                              env={"PATH": os.environ.get("PATH", ""), "ETCDCTL_API": "3"})


def start_etcd(directory: Path, tls: dict | None = None) -> EtcdServer:
    if not shutil.which("etcd"):
        pytest.fail("etcd is required (apt-get install -y --no-install-recommends etcd-server etcd-client); "
                    "scripts/test installs it")
    last = None
    for _attempt in range(3):  # a free port can be taken between probing and binding
        server = EtcdServer(Path(directory) / f"data-{free_port()}", free_port(), free_port(), tls)
        try:
            server.start()
            return server
        except RuntimeError as exc:
            server.stop(signal.SIGKILL)
            last = exc
    raise last


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=15)


def tls_material(directory: Path) -> dict:
    """A test CA, a server certificate for 127.0.0.1 and a client certificate (CN x0ctl), as PEM files.

    etcd's HTTP gateway dials etcd's own gRPC port with the server certificate, so with client
    certificates required, the server certificate must also be valid for client authentication.
    The client certificate has no common name: with auth enabled, etcd's gateway refuses
    certificates that carry one (it cannot pass the name on as the etcd user).
    """
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x0ctl etcd test CA")])

    def issue(name, key, *, ca=False, usages=(), san=None):
        subject = [x509.NameAttribute(NameOID.COMMON_NAME, name)] if name else [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "x0ctl tests")]
        builder = (x509.CertificateBuilder().subject_name(x509.Name(subject))
                   .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(ca_key, hashes.SHA256())

    paths = {}
    for stem, cert, key in (
            ("ca", issue("x0ctl etcd test CA", ca_key, ca=True), ca_key),
            *((stem, issue(name, key, usages=usages, san=san), key) for stem, name, key, usages, san in (
                ("server", "127.0.0.1", ec.generate_private_key(ec.SECP256R1()),
                 (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
                 [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                ("client", None, ec.generate_private_key(ec.SECP256R1()), (ExtendedKeyUsageOID.CLIENT_AUTH,),
                 None)))):
        (directory / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (directory / f"{stem}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        (directory / f"{stem}.key").chmod(0o600)
        paths[stem], paths[f"{stem}_key"] = directory / f"{stem}.crt", directory / f"{stem}.key"
    return {"cert": paths["server"], "key": paths["server_key"], "ca": paths["ca"], "client_cert": paths["client"],
            "client_key": paths["client_key"]}
