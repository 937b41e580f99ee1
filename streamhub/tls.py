"""Certificates for a hub on a school LAN: a local certificate authority, the hub's server
certificate signed by it, and the checks that turn a bad certificate setting into one clear
sentence at start-up instead of a TLS stack trace (or a browser that silently gets no camera).

Browsers give cameras only to secure contexts, so a lecturer PC that opens the hub by its LAN
address needs HTTPS, and HTTPS on a LAN without a public name needs a CA the school trusts:
``streamhub tls init`` makes one (kept, so re-issuing the server certificate does not mean
visiting every PC again) and prints how to install it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from streamhub.errors import ConfigError

CA_DAYS = 10 * 365
# Browsers refuse server certificates valid longer than 398 days; stay under it.
SERVER_DAYS = 397
EXPIRY_WARNING_DAYS = 30

PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class IssuedFiles:
    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path
    ca_created: bool
    names: tuple[str, ...]
    addresses: tuple[str, ...]
    not_after: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_private(path: Path, data: bytes) -> None:
    """Write a key readable by its owner only (atomically: a half-written key is no key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _key_usage(signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _make_ca(common_name: str) -> tuple[x509.Certificate, PrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "StreamHub"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _load_ca(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, PrivateKey]:
    cert = load_certificate(cert_path, "CA certificate")
    key = load_private_key(key_path, "CA key")
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{key_path}: the CA key is not an EC key made by `streamhub tls init`")
    _check_pair(cert, key, cert_path, key_path)
    return cert, key


def issue(
    directory: Path,
    names: list[str],
    addresses: list[str],
    *,
    basename: str = "hub",
    days: int = SERVER_DAYS,
) -> IssuedFiles:
    """Create (or reuse) ``directory/ca.crt`` + ``ca.key`` and issue ``<basename>.crt`` +
    ``<basename>.key`` for the given DNS names and IP addresses."""
    if not names and not addresses:
        raise ConfigError("give at least one --name or --ip for the certificate")
    ips = []
    for address in addresses:
        try:
            ips.append(ipaddress.ip_address(address))
        except ValueError:
            raise ConfigError(f"--ip {address!r} is not an IP address") from None
    for name in names:
        if not name or any(c.isspace() for c in name) or "/" in name or ":" in name:
            raise ConfigError(f"--name {name!r} is not a host name")
    if not 1 <= days <= SERVER_DAYS:
        raise ConfigError(f"--days must be between 1 and {SERVER_DAYS} (browsers refuse longer)")
    ca_cert_path, ca_key_path = directory / "ca.crt", directory / "ca.key"
    ca_created = not ca_cert_path.exists()
    if ca_created:
        if ca_key_path.exists():
            raise ConfigError(f"{ca_key_path} exists without {ca_cert_path}: move it away first")
        ca_cert, ca_key = _make_ca(f"StreamHub local CA ({(names or addresses)[0]})")
        _write_private(ca_key_path, _key_pem(ca_key))
        _write_public(ca_cert_path, ca_cert.public_bytes(serialization.Encoding.PEM))
    else:
        ca_cert, ca_key = _load_ca(ca_cert_path, ca_key_path)

    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    not_after = min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (names or addresses)[0])])
    san: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    san += [x509.IPAddress(ip) for ip in ips]
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{basename}.crt", directory / f"{basename}.key"
    _write_private(key_path, _key_pem(key))
    # The chain (server, then CA) lets clients that were given only the CA build the path.
    _write_public(
        cert_path,
        cert.public_bytes(serialization.Encoding.PEM)
        + ca_cert.public_bytes(serialization.Encoding.PEM),
    )
    return IssuedFiles(
        ca_cert=ca_cert_path,
        ca_key=ca_key_path,
        cert=cert_path,
        key=key_path,
        ca_created=ca_created,
        names=tuple(names),
        addresses=tuple(str(ip) for ip in ips),
        not_after=not_after,
    )


# ---------------------------------------------------------------- checks at start-up


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{what} {path}: is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot be read ({exc.strerror})") from None


def load_certificate(path: Path, what: str = "certificate") -> x509.Certificate:
    data = _read(path, what)
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        try:
            return x509.load_der_x509_certificate(data)
        except ValueError:
            raise ConfigError(f"{what} {path}: not a PEM or DER certificate") from None


def load_private_key(path: Path, what: str = "private key") -> object:
    data = _read(path, what)
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ConfigError(
            f"{what} {path}: the key is protected by a passphrase; the hub needs it without one"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"{what} {path}: not a PEM private key") from None


def _public_der(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _check_pair(cert: x509.Certificate, key: object, cert_path: Path, key_path: Path) -> None:
    public = getattr(key, "public_key", None)
    if public is None or _public_der(public()) != _public_der(cert.public_key()):
        raise ConfigError(
            f"the key {key_path} does not match the certificate {cert_path} "
            "(it belongs to another certificate): give the key the certificate was issued for"
        )


@dataclass(frozen=True)
class ServerCertificate:
    subject: str
    names: tuple[str, ...]
    not_after: dt.datetime
    days_left: int

    @property
    def expires_soon(self) -> bool:
        return self.days_left < EXPIRY_WARNING_DAYS


def check_server_files(cert_path: Path, key_path: Path) -> ServerCertificate:
    """Everything a TLS listener needs from its files, checked; raise ConfigError saying what
    is wrong (missing, unreadable, not PEM, key of another certificate, expired)."""
    cert = load_certificate(cert_path, "tls.cert_file")
    key = load_private_key(key_path, "tls.key_file")
    _check_pair(cert, key, cert_path, key_path)
    now = _now()
    if cert.not_valid_after_utc <= now:
        raise ConfigError(
            f"tls.cert_file {cert_path} expired on {cert.not_valid_after_utc:%Y-%m-%d}: "
            "issue a new one (streamhub tls init)"
        )
    if cert.not_valid_before_utc > now:
        raise ConfigError(
            f"tls.cert_file {cert_path} is valid only from "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC: check this machine's clock"
        )
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert_path, key_path)
    except ssl.SSLError as exc:
        raise ConfigError(f"tls.cert_file/tls.key_file refused by OpenSSL: {exc}") from None
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [*san.get_values_for_type(x509.DNSName)]
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    return ServerCertificate(
        subject=cert.subject.rfc4514_string(),
        names=tuple(names),
        not_after=cert.not_valid_after_utc,
        days_left=(cert.not_valid_after_utc - now).days,
    )


def client_context(ca_file: Path | None) -> ssl.SSLContext:
    """A verifying client context: the system's trusted CAs, plus ``ca_file`` when given."""
    context = ssl.create_default_context()
    if ca_file is not None:
        _read(ca_file, "CA file")
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except ssl.SSLError:
            raise ConfigError(f"CA file {ca_file}: not a PEM certificate") from None
    return context
