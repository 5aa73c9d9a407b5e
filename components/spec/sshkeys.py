"""Validation of OpenSSH public key lines (authorized_keys format, without options)."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

ALLOWED_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)
MIN_RSA_BITS = 2048


def ssh_key_problem(line: str) -> str | None:
    """Return why ``line`` is not an acceptable OpenSSH public key, or ``None`` if it is."""
    if "\n" in line or "\r" in line:
        return "must be a single line"
    parts = line.strip().split(maxsplit=2)
    if len(parts) < 2:
        return "expected '<type> <base64> [comment]'"
    key_type = parts[0]
    if key_type not in ALLOWED_KEY_TYPES:
        return f"key type {key_type[:40]!r} is not accepted; allowed types: {', '.join(ALLOWED_KEY_TYPES)}"
    try:
        key = load_ssh_public_key(f"{parts[0]} {parts[1]}".encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return f"not a valid {key_type} public key (bad base64 or key data)"
    except Exception:  # cryptography raises assorted types for garbage blobs
        return f"not a valid {key_type} public key (unreadable key data)"
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"RSA key has {key.key_size} bits; at least {MIN_RSA_BITS} are required"
    if not isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey)):
        return "unsupported key algorithm"
    return None
