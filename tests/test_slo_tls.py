"""Connection options against a real Prometheus behind TLS, client certificates and basic auth.

Prometheus' own --web.config.file does the checking: a server certificate from a test CA for
127.0.0.1, client certificates required and verified, and a basic-auth user (bcrypt, cost 4).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import ssl

import pytest

from .conftest import assert_one_line_error
from .promserver import start_prometheus

PASSWORD = "x0-test-password"
# bcrypt("x0-test-password", cost 4): Prometheus' basic_auth_users takes only hashes
PASSWORD_HASH = "$2b$04$jTdG75SYZPsBoD.rSUtDxesfluSK6WnVCGJrEWME9CkZqVka7zlWW"
AT = 1748736600
HISTORY = "".join(f'pqc_handshake_success_total{{instance="tls"}} {i * 10} {1748736000 + i * 60}\n' for i in range(11))


def _certificates(directory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def issue(name, issuer_name, issuer_key, key, *, ca=False, usage=None, san=None):
        builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                   .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if usage:
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    def save(stem, cert, key):
        (directory / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (directory / f"{stem}.key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x0ctl test CA")])
    ca = issue("x0ctl test CA", ca_name, ca_key, ca_key, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    server = issue("127.0.0.1", ca_name, ca_key, server_key, usage=ExtendedKeyUsageOID.SERVER_AUTH,
                   san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    client = issue("x0ctl", ca_name, ca_key, client_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    save("ca", ca, ca_key)
    save("server", server, server_key)
    save("client", client, client_key)
    return {stem: directory / f"{stem}.crt" for stem in ("ca", "server", "client")} | {
        f"{stem}_key": directory / f"{stem}.key" for stem in ("server", "client")}


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    directory = tmp_path_factory.mktemp("prometheus-tls")
    files = _certificates(directory)
    web_config = (
        "tls_server_config:\n"
        f"  cert_file: {files['server']}\n  key_file: {files['server_key']}\n"
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {files['ca']}\n"
        f"basic_auth_users:\n  x0: {PASSWORD_HASH}\n"
    )
    probe = ssl.create_default_context(cafile=str(files["ca"]))
    probe.load_cert_chain(str(files["client"]), str(files["client_key"]))
    auth = base64.b64encode(f"x0:{PASSWORD}".encode()).decode()
    server = start_prometheus(directory, "# TYPE pqc_handshake_success counter\n" + HISTORY, web_config=web_config,
                              probe_context=probe, probe_headers={"Authorization": f"Basic {auth}"})
    password_file = directory / "basic-auth"
    password_file.write_text(f"x0:{PASSWORD}\n")
    try:
        yield server, files, password_file
    finally:
        server.stop()


QUERY = 'sum(increase(pqc_handshake_success_total[10m]))'


def test_tls_client_certificate_and_basic_auth(cli, secured):
    server, files, password_file = secured
    assert server.url.startswith("https://127.0.0.1:")
    data = cli.json("slo", "query", QUERY, "--at", str(AT), "-p", server.url, "--ca-bundle", str(files["ca"]),
                    "--client-cert", str(files["client"]), "--client-key", str(files["client_key"]),
                    "--basic-auth-file", str(password_file))
    assert data["series"][0]["value"] == pytest.approx(100)
    from_env = cli.json("slo", "query", QUERY, "--at", str(AT), "-p", server.url, "--ca-bundle", str(files["ca"]),
                        "--client-cert", str(files["client"]), "--client-key", str(files["client_key"]),
                        env={"X0CTL_PROMETHEUS_BASIC_AUTH": f"x0:{PASSWORD}"})
    assert from_env["series"] == data["series"]


@pytest.mark.parametrize("drop, fragments", [
    ("ca", ["TLS failure", "certificate verify failed"]),
    ("client", ["TLS failure", "client certificate"]),
    ("auth", ["HTTP 401", "unauthorized"]),
    ("wrong-password", ["HTTP 401"]),
])
def test_each_missing_credential_is_exit_4(cli, secured, tmp_path, drop, fragments):
    server, files, password_file = secured
    argv = ["slo", "query", QUERY, "--at", str(AT), "-p", server.url]
    if drop != "ca":
        argv += ["--ca-bundle", str(files["ca"])]
    if drop != "client":
        argv += ["--client-cert", str(files["client"]), "--client-key", str(files["client_key"])]
    if drop == "wrong-password":
        wrong = tmp_path / "wrong"
        wrong.write_text("x0:not-the-password")
        argv += ["--basic-auth-file", str(wrong)]
    elif drop != "auth":
        argv += ["--basic-auth-file", str(password_file)]
    result = cli(*argv)
    assert result.exit_code == 4, (result.stdout, result.stderr)
    assert_one_line_error(result.stderr, *fragments)
    assert PASSWORD not in result.stderr and "not-the-password" not in result.stderr


def test_plain_http_to_a_tls_server_is_exit_4_not_a_query_error(cli, secured):
    server, _, _ = secured
    result = cli("slo", "query", QUERY, "-p", server.url.replace("https://", "http://"))
    assert result.exit_code == 4, result.stderr
    assert_one_line_error(result.stderr, "HTTP 400")
