"""Access tokens: signed (HMAC-SHA256 JWT), expiring, with an audience, as Azure AD issues them.

The signing key lives in the home (``token.key``, created on first use, readable by its owner
only), so tokens issued by ``account get-access-token`` are accepted by any front end of the
same home and by nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path

from emulator import settings
from emulator.exceptions import AudienceError, AuthenticationError

ML_RESOURCE = "https://ml.azure.com"
MANAGEMENT_RESOURCE = "https://management.azure.com"
TOKEN_LIFETIME_SECONDS = 3600
ISSUER = "https://sts.batch-emulator.local/"
TENANT_ID = "00000000-0000-0000-0000-000000000000"
SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(home: Path) -> bytes:
    path = home / "token.key"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it meanwhile
        else:
            with os.fdopen(fd, "wb") as file:
                file.write(secrets.token_bytes(32))
    return path.read_bytes()


def issue_token(home: Path, resource: str = ML_RESOURCE, user: str | None = None,
                lifetime: int = TOKEN_LIFETIME_SECONDS) -> dict:
    """``az account get-access-token``'s answer, with a token signed by this home's key."""
    now = int(time.time())
    user = user or settings.user()
    claims = {"aud": resource.rstrip("/"), "iss": ISSUER, "iat": now, "nbf": now,
              "exp": now + lifetime, "sub": user, "upn": user, "tid": TENANT_ID,
              "oid": hashlib.sha256(user.encode()).hexdigest()[:32]}
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = _b64(hmac.new(_key(home), f"{header}.{payload}".encode(), "sha256").digest())
    expires = claims["exp"]
    return {
        "accessToken": f"{header}.{payload}.{signature}",
        "expiresOn": time.strftime("%Y-%m-%d %H:%M:%S.000000", time.localtime(expires)),
        "expires_on": expires,
        "subscription": SUBSCRIPTION_ID,
        "tenant": TENANT_ID,
        "tokenType": "Bearer",
    }


def verify_token(home: Path, token: str, resource: str, also: tuple[str, ...] = ()) -> dict:
    """The token's claims, or ``AuthenticationError`` saying what is wrong with it.

    ``resource`` is the audience the endpoint expects; ``also`` lists other audiences it
    accepts (the ones Azure's SDK derives from the emulator's cloud metadata)."""
    try:
        header, payload, signature = token.split(".")
        expected = hmac.new(_key(home), f"{header}.{payload}".encode(), "sha256").digest()
        valid = hmac.compare_digest(_unb64(signature), expected)
        claims = json.loads(_unb64(payload))
    except (ValueError, json.JSONDecodeError):
        raise AuthenticationError("The access token is malformed; get one with "
                                  "'batch-emulator account get-access-token'") from None
    if not valid:
        raise AuthenticationError("The access token signature is invalid; get a new one with "
                                  "'batch-emulator account get-access-token'")
    if claims.get("exp", 0) < time.time():
        raise AuthenticationError("The access token expired; get a new one with "
                                  "'batch-emulator account get-access-token'")
    accepted = {audience.rstrip("/") for audience in (resource, *also)}
    if claims.get("aud", "").rstrip("/") not in accepted:
        raise AudienceError(
            f"Audiences in JWT are not allowed: the access token has been obtained for the wrong "
            f"audience or resource '{claims.get('aud')}'; it should be '{resource}' (get one with "
            f"'batch-emulator account get-access-token --resource {resource}')")
    return claims
