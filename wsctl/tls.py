"""TLS for ``wss://`` and ``https://`` proxies: the ``ssl.SSLContext`` the options ask for.

Verification is on by default against the system trust store.  ``--cacert``/``--capath``
replace that store (as in curl), ``--cert``/``--key`` add a client certificate, ``-k`` turns
verification off.  Every file is loaded here, before any network I/O, so a bad file is a
one-line :class:`~wsctl.errors.InvalidInput` (exit 2) rather than a failed handshake.

Imported only when a TLS option is used or a certificate error must be explained, so plain
``ws://`` runs never pay for it.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

from wsctl.errors import InvalidInput
from wsctl.settings import ConnectOptions

Password = str | bytes | Callable[[], str | bytes]

#: The warning printed on every run with ``-k/--insecure``.
INSECURE_WARNING = (
    "--insecure: TLS certificates are not verified; anyone on the network path can read "
    "and change this connection"
)

# OpenSSL's X509_V_ERR_* codes that deserve their own explanation.
_NOT_YET_VALID = 9
_EXPIRED = 10
_SELF_SIGNED = 18
_SELF_SIGNED_IN_CHAIN = 19
_UNKNOWN_ISSUER = (2, 20, 21)
_REVOKED = 23
_HOSTNAME_MISMATCH = 62
_IP_MISMATCH = 64


def has_tls_settings(options: ConnectOptions) -> bool:
    """True when the options ask for anything but the default TLS context."""
    return (
        options.ssl_context is not None
        or options.insecure
        or any(
            value is not None
            for value in (options.cacert, options.capath, options.cert, options.key)
        )
    )


def build_context(options: ConnectOptions, *, client_certificate: bool = True) -> ssl.SSLContext:
    """The context for the server (``client_certificate``) or for an https:// proxy (without).

    Raises :class:`InvalidInput` naming the file at fault.
    """
    if client_certificate and options.ssl_context is not None:
        context: ssl.SSLContext = options.ssl_context
        return context
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if options.cacert is not None or options.capath is not None:
        # create_default_context() loaded the system store; start again without it.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        _load_trust(context, options.cacert, options.capath)
    if options.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_certificate and options.cert is not None:
        _load_client_certificate(context, options.cert, options.key, options.key_password)
    return context


def _load_trust(context: ssl.SSLContext, cacert: str | None, capath: str | None) -> None:
    if cacert is not None:
        try:
            context.load_verify_locations(cafile=cacert)
        except ssl.SSLError:
            raise InvalidInput(f"invalid --cacert {cacert}: no PEM certificate in it") from None
        except OSError as exc:
            raise InvalidInput(f"cannot read --cacert {cacert}: {exc.strerror}") from None
    if capath is not None:
        # OpenSSL reads a hashed directory lazily, at verification time: nothing to check here
        # beyond its existence (ConnectOptions did that).
        context.load_verify_locations(capath=capath)


class _PasswordNeeded(Exception):
    """Raised from the passphrase callback when the key is encrypted and none was given."""


def _load_client_certificate(
    context: ssl.SSLContext, cert: str, key: str | None, password: Password | None
) -> None:
    asked = False

    def passphrase() -> str | bytes:
        nonlocal asked
        asked = True
        if password is None:
            # Without a callback OpenSSL would prompt on /dev/tty itself, even in CI.
            raise _PasswordNeeded
        return password() if callable(password) else password

    key_file = key or cert
    try:
        context.load_cert_chain(cert, key, password=passphrase)
    except _PasswordNeeded:
        raise InvalidInput(
            f"the key in {key_file} is encrypted: give its passphrase in an environment "
            "variable with --key-password-env VAR (or run on a terminal to be asked)"
        ) from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise InvalidInput(
                f"the key in {key_file} does not belong to the certificate in {cert}"
            ) from None
        if asked:
            raise InvalidInput(f"wrong passphrase for the key in {key_file}") from None
        if not _looks_like(cert, "CERTIFICATE"):
            raise InvalidInput(f"invalid --cert {cert}: no PEM certificate in it") from None
        if key is None:
            raise InvalidInput(f"no private key in {cert}: give it with --key FILE (PEM)") from None
        raise InvalidInput(f"invalid --key {key}: no PEM private key in it") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {key_file}: {exc.strerror}") from None


def _looks_like(path: str, label: str) -> bool:
    try:
        with open(path, "rb") as file:
            return f"-----BEGIN {label}".encode() in file.read(1 << 20)
    except OSError:
        return False


def explain_certificate_error(exc: ssl.SSLCertVerificationError, host: str) -> str:
    """Why the server's certificate was refused, and what to do about it, in one phrase."""
    code = exc.verify_code
    trust_hint = "trust its CA with --cacert FILE (or skip verification with -k, unsafe)"
    if code == _EXPIRED:
        return "the server's certificate has expired (renew it, or check this machine's clock)"
    if code == _NOT_YET_VALID:
        return "the server's certificate is not valid yet (check this machine's clock)"
    if code in (_HOSTNAME_MISMATCH, _IP_MISMATCH):
        return (
            f"the server's certificate is not valid for {host} "
            "(--tls-server-name NAME checks it against another name)"
        )
    if code == _SELF_SIGNED:
        return f"the server's certificate is self-signed; {trust_hint}"
    if code == _SELF_SIGNED_IN_CHAIN or code in _UNKNOWN_ISSUER:
        return f"the server's certificate was issued by an unknown authority; {trust_hint}"
    if code == _REVOKED:
        return "the server's certificate has been revoked"
    detail = exc.verify_message or exc.reason or str(exc)
    return f"{detail}"


#: OpenSSL's reasons when the other side answered a ClientHello with something that is not TLS.
_NOT_TLS_REASONS = (
    "WRONG_VERSION_NUMBER",
    "HTTP_REQUEST",
    "UNKNOWN_PROTOCOL",
    "PACKET_LENGTH_TOO_LONG",
    "RECORD_LAYER_FAILURE",
)


def not_tls(address: str) -> str:
    """The phrase for a ``wss://`` URL whose server at ``address`` does not speak TLS."""
    return f"TLS handshake failed: the server at {address} does not speak TLS — did you mean ws://?"


def explain_tls_error(exc: ssl.SSLError, address: str = "") -> str | None:
    """A clearer phrase for TLS failures a user can act on (a plain-text server at
    ``address``, alerts about the client certificate), else ``None``."""
    reason = str(exc.reason or exc)
    if address and any(name in reason for name in _NOT_TLS_REASONS):
        return not_tls(address)
    if "CERTIFICATE_REQUIRED" in reason:
        return "the server requires a client certificate: give one with --cert FILE [--key FILE]"
    if any(
        alert in reason
        for alert in ("UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN", "ACCESS_DENIED")
    ):
        return f"the server rejected the client certificate ({reason})"
    if "HANDSHAKE_FAILURE" in reason:
        return (
            "the TLS handshake failed: the server may require a client certificate "
            "(--cert FILE) or share no protocol version or cipher with this client"
        )
    return None
