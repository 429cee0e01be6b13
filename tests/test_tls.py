"""TLS against real wss:// servers with certificates made at test time by trustme."""

from __future__ import annotations

import asyncio
import datetime
import io
import shutil
import ssl
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest
import trustme
from conftest import TIMEOUT, LoopbackServer, invoke, wsctl_command
from cryptography.hazmat.primitives import serialization

import wsctl
from wsctl.errors import ConnectionFailed, InvalidInput
from wsctl.tls import INSECURE_WARNING


@dataclass
class Pki:
    """A CA, its PEM file, and helpers to issue server and client certificates."""

    ca: trustme.CA
    directory: Path

    @property
    def ca_file(self) -> str:
        path = self.directory / "ca.pem"
        if not path.exists():
            self.ca.cert_pem.write_to_path(str(path))
        return str(path)

    def server_context(
        self, *identities: str, require_client_cert: bool = False, **issue: object
    ) -> ssl.SSLContext:
        leaf = self.ca.issue_cert(*(identities or ("127.0.0.1",)), **issue)  # type: ignore[arg-type]
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(context)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            self.ca.configure_trust(context)
        return context

    def client_files(self, name: str = "client") -> tuple[str, str, str]:
        """(combined PEM, certificate only, key only) for a client certificate."""
        leaf = self.ca.issue_cert(f"{name}@example.test")
        both = self.directory / f"{name}.pem"
        cert = self.directory / f"{name}.crt"
        key = self.directory / f"{name}.key"
        leaf.private_key_and_cert_chain_pem.write_to_path(str(both))
        leaf.cert_chain_pems[0].write_to_path(str(cert))
        leaf.private_key_pem.write_to_path(str(key))
        return str(both), str(cert), str(key)

    def encrypted_key(self, key_file: str, passphrase: bytes) -> str:
        key = serialization.load_pem_private_key(Path(key_file).read_bytes(), None)
        path = self.directory / "encrypted.key"
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(passphrase),
            )
        )
        return str(path)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(trustme.CA(), tmp_path)


def wss_server(
    make_server: Callable[..., LoopbackServer], context: ssl.SSLContext
) -> tuple[LoopbackServer, str]:
    server = make_server(ssl=context)
    return server, f"wss://127.0.0.1:{server.port}/"


def test_verified_server_with_cacert(make_server: Callable[..., LoopbackServer], pki: Pki) -> None:
    server, url = wss_server(make_server, pki.server_context())
    result = invoke(["send", url, "over tls", "--cacert", pki.ca_file, "--wait", "1"])
    assert result.exit_code == 0, result.stderr
    assert result.lines == ["over tls"]
    assert server.recorder.messages == ["over tls"]
    assert "warning" not in result.stderr


def test_verified_server_with_capath(
    make_server: Callable[..., LoopbackServer], pki: Pki, tmp_path: Path
) -> None:
    openssl = shutil.which("openssl")
    assert openssl is not None, "the openssl command makes the hashed --capath directory"
    subject_hash = subprocess.run(
        [openssl, "x509", "-subject_hash", "-noout", "-in", pki.ca_file],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    capath = tmp_path / "certs"
    capath.mkdir()
    shutil.copy(pki.ca_file, capath / f"{subject_hash}.0")
    _, url = wss_server(make_server, pki.server_context())
    result = invoke(["send", url, "hi", "--capath", str(capath), "--wait", "1"])
    assert result.exit_code == 0, result.stderr
    assert result.lines == ["hi"]


def test_unknown_ca_exits_4_with_a_clear_message(
    make_server: Callable[..., LoopbackServer], pki: Pki
) -> None:
    server, url = wss_server(make_server, pki.server_context())
    # The system trust store does not know a CA made a moment ago; --retry must not retry.
    result = invoke(["send", url, "hi", "--retry", "3", "--retry-delay", "10ms"])
    assert result.exit_code == 4
    assert (
        f"error: cannot connect to {url}: TLS certificate verification failed: the server's "
        "certificate was issued by an unknown authority; trust its CA with --cacert FILE"
    ) in result.stderr
    assert "retry" not in result.stderr.replace("--retry", "")
    assert server.recorder.connections == 0


def test_cacert_replaces_the_system_store(
    make_server: Callable[..., LoopbackServer], pki: Pki
) -> None:
    """Trusting one CA file means trusting only it, as curl does."""
    other = Pki(trustme.CA(), pki.directory / "other")
    other.directory.mkdir()
    _, url = wss_server(make_server, pki.server_context())
    result = invoke(["send", url, "hi", "--cacert", other.ca_file])
    assert result.exit_code == 4
    assert "unknown authority" in result.stderr


def test_insecure_connects_and_warns_every_time(
    make_server: Callable[..., LoopbackServer], pki: Pki
) -> None:
    server, url = wss_server(make_server, pki.server_context("wrong.example"))
    for extra in ([], ["-q"]):
        result = invoke(["send", url, "unverified", "-k", "--wait", "1", *extra])
        assert result.exit_code == 0, result.stderr
        assert result.lines == ["unverified"]
        assert f"wsctl: warning: {INSECURE_WARNING}" in result.stderr
    assert server.recorder.messages == ["unverified", "unverified"]


def test_wrong_host_is_explained_and_tls_server_name_fixes_it(
    make_server: Callable[..., LoopbackServer], pki: Pki
) -> None:
    _server, url = wss_server(make_server, pki.server_context("ws.example.test"))
    result = invoke(["send", url, "hi", "--cacert", pki.ca_file])
    assert result.exit_code == 4
    assert "the server's certificate is not valid for 127.0.0.1" in result.stderr
    assert "--tls-server-name" in result.stderr
    fixed = invoke(
        [
            "send",
            url,
            "hi",
            "--cacert",
            pki.ca_file,
            "--tls-server-name",
            "ws.example.test",
            "--wait",
            "1",
        ]
    )
    assert fixed.exit_code == 0, fixed.stderr
    assert fixed.lines == ["hi"]


def test_expired_certificate_is_explained(
    make_server: Callable[..., LoopbackServer], pki: Pki
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    context = pki.server_context(
        not_before=now - datetime.timedelta(days=30), not_after=now - datetime.timedelta(days=1)
    )
    _, url = wss_server(make_server, context)
    result = invoke(["send", url, "hi", "--cacert", pki.ca_file, "--retry", "2"])
    assert result.exit_code == 4
    assert "TLS certificate verification failed: the server's certificate has expired" in (
        result.stderr
    )
    assert "retry 1" not in result.stderr  # certificate failures are not retryable


def test_client_certificate_required_without_cert(
    make_server: Callable[..., LoopbackServer], pki: Pki
) -> None:
    server, url = wss_server(make_server, pki.server_context(require_client_cert=True))
    result = invoke(["send", url, "hi", "--cacert", pki.ca_file])
    assert result.exit_code == 4
    assert "give one with --cert FILE" in result.stderr
    assert server.recorder.messages == []


def test_client_certificate_required_with_cert(
    make_server: Callable[..., LoopbackServer], pki: Pki
) -> None:
    server, url = wss_server(make_server, pki.server_context(require_client_cert=True))
    both, cert, key = pki.client_files()
    combined = invoke(["send", url, "one", "--cacert", pki.ca_file, "--cert", both, "--wait", "1"])
    assert combined.exit_code == 0, combined.stderr
    assert combined.lines == ["one"]
    separate = invoke(
        ["send", url, "two", "--cacert", pki.ca_file, "--cert", cert, "--key", key, "--wait", "1"]
    )
    assert separate.exit_code == 0, separate.stderr
    assert server.recorder.messages == ["one", "two"]


def test_encrypted_key_with_passphrase_from_the_environment(
    make_server: Callable[..., LoopbackServer], pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = wss_server(make_server, pki.server_context(require_client_cert=True))
    _, cert, key = pki.client_files()
    encrypted = pki.encrypted_key(key, b"correct horse")
    base = ["send", url, "hi", "--cacert", pki.ca_file, "--cert", cert, "--key", encrypted]

    no_passphrase = invoke(base)
    assert no_passphrase.exit_code == 2
    assert f"the key in {encrypted} is encrypted" in no_passphrase.stderr
    assert "--key-password-env" in no_passphrase.stderr

    monkeypatch.setenv("WSCTL_TEST_KEY_PASSWORD", "wrong")
    wrong = invoke([*base, "--key-password-env", "WSCTL_TEST_KEY_PASSWORD"])
    assert wrong.exit_code == 2
    assert f"wrong passphrase for the key in {encrypted}" in wrong.stderr

    monkeypatch.setenv("WSCTL_TEST_KEY_PASSWORD", "correct horse")
    right = invoke([*base, "--key-password-env", "WSCTL_TEST_KEY_PASSWORD", "--wait", "1"])
    assert right.exit_code == 0, right.stderr
    assert "correct horse" not in right.stderr
    assert server.recorder.messages == ["hi"]  # only the run with the right passphrase


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cacert", "{missing}"], "invalid --cacert {missing}: no such file"),
        (["--cacert", "{junk}"], "invalid --cacert {junk}: no PEM certificate in it"),
        (["--capath", "{missing}"], "invalid --capath {missing}: not a directory"),
        (["--cert", "{junk}"], "invalid --cert {junk}: no PEM certificate in it"),
        (["--cert", "{cert}"], "no private key in {cert}: give it with --key FILE"),
        (["--key", "{key}"], "--key needs --cert"),
        (["--cert", "{cert}", "--key", "{other_key}"], "does not belong to the certificate"),
        (["--key-password-env", "WSCTL_TEST_UNSET_VARIABLE", "--cert", "{both}"], "is not set"),
        (["--tls-server-name", "bad name"], "invalid --tls-server-name"),
    ],
)
def test_bad_tls_input_exits_2_before_connecting(
    make_server: Callable[..., LoopbackServer],
    pki: Pki,
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    server, url = wss_server(make_server, pki.server_context())
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    both, cert, key = pki.client_files()
    _, _, other_key = pki.client_files("other")
    names = {
        "missing": str(tmp_path / "missing.pem"),
        "junk": str(junk),
        "both": both,
        "cert": cert,
        "key": key,
        "other_key": other_key,
    }
    result = invoke(["send", url, "hi", *(arg.format(**names) for arg in args)])
    assert result.exit_code == 2, result.stderr
    assert message.format(**names) in result.stderr
    assert server.recorder.connections == 0


def test_python_api_accepts_tls_options_and_a_context(
    make_server: Callable[..., LoopbackServer], pki: Pki
) -> None:
    server, url = wss_server(make_server, pki.server_context(require_client_cert=True))
    both, _, _ = pki.client_files()
    context = ssl.create_default_context(cafile=pki.ca_file)
    context.load_cert_chain(both)

    async def body() -> None:
        async with asyncio.timeout(TIMEOUT):
            async with wsctl.connect(url, cacert=pki.ca_file, cert=both) as client:
                await client.send("by options")
                assert (await client.recv()) == wsctl.Message("text", "by options")
            async with wsctl.connect(url, ssl_context=context) as client:
                await client.send("by context")
                assert (await client.recv()) == wsctl.Message("text", "by context")
            with pytest.raises(ConnectionFailed, match="unknown authority") as failure:
                await wsctl.connect(url)
            assert not failure.value.retryable
            with pytest.raises(InvalidInput, match="no such file"):
                await wsctl.connect(url, cacert=str(pki.directory / "nope.pem"))

    asyncio.run(body())
    assert server.recorder.messages == ["by options", "by context"]


def test_encrypted_key_passphrase_is_asked_on_a_terminal(
    make_server: Callable[..., LoopbackServer], pki: Pki
) -> None:
    server, url = wss_server(make_server, pki.server_context(require_client_cert=True))
    _, cert, key = pki.client_files()
    encrypted = pki.encrypted_key(key, b"typed passphrase")
    command = wsctl_command(
        "send", url, "asked", "--cacert", pki.ca_file, "--cert", cert, "--key", encrypted
    )
    child = pexpect.spawn(command[0], [*command[1:], "--wait", "1"], timeout=TIMEOUT)
    child.logfile_read = screen = io.BytesIO()
    try:
        child.expect(f"Passphrase for {encrypted}: ".encode())
        child.sendline(b"typed passphrase")
        child.expect(b"asked")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, screen.getvalue()
    assert b"typed passphrase" not in screen.getvalue()
    assert server.recorder.messages == ["asked"]
