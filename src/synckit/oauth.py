"""OAuth2 client credentials (RFC 6749 section 4.4) as a ``fetch`` for ``RefreshingToken``.

    token_http = Http(base_url, auth=None, timeout=30)          # its own limiter: token calls are not budgeted
    fetch = client_credentials(token_http, "/oauth2/v0/token", client_id, client_secret, scope="read(all)")
    auth = RefreshingToken(fetch)                                 # renewed before expiry, re-acquired on 401

Credentials go in an HTTP Basic header (``send="basic"``, the RFC's preference) or in the form body
(``send="body"``). A refused request raises ``AuthError``/``ApiError`` at once with the server's
``error_description``: never a loop, which would trip the lockouts some servers keep. ``expires_in`` may be
a number or a numeric string; the token is registered with the secret mask before anything can print it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from requests.auth import HTTPBasicAuth

from . import redact
from .errors import ResponseError
from .http import Http


def client_credentials(
    http: Http,
    path: str,
    client_id: str,
    client_secret: str,
    *,
    scope: str | None = None,
    send: str = "basic",
    extra: Mapping[str, str] | None = None,
    default_lifetime: float = 3600.0,
) -> Callable[[], tuple[str, float]]:
    """Return ``fetch() -> (access_token, lifetime_seconds)`` that POSTs a client-credentials grant."""
    if send not in ("basic", "body"):
        raise ValueError("send must be 'basic' or 'body'")
    redact.register(client_secret)

    def fetch() -> tuple[str, float]:
        form = {"grant_type": "client_credentials", **dict(extra or {})}
        if scope:
            form["scope"] = scope
        auth: HTTPBasicAuth | bool = False
        if send == "basic":
            auth = HTTPBasicAuth(client_id, client_secret)
        else:
            form.update(client_id=client_id, client_secret=client_secret)
        body = http.json("POST", path, data=form, auth=auth, headers={"Accept": "application/json"})
        return parse_token(body, default_lifetime)

    return fetch


def parse_token(body: object, default_lifetime: float = 3600.0) -> tuple[str, float]:
    """``{"access_token": "...", "token_type": "Bearer"|"bearer", "expires_in": 3600|"3600"}`` -> (token, s)."""
    if not isinstance(body, dict):
        raise ResponseError("the token endpoint answered with something other than a JSON object")
    token = body.get("access_token")
    if not isinstance(token, str) or not token.strip():
        raise ResponseError("the token endpoint's answer has no access_token")
    redact.register(token)
    kind = body.get("token_type")
    if kind is not None and str(kind).lower() != "bearer":
        raise ResponseError(f"the token endpoint issued a {str(kind)[:20]!r} token; only bearer tokens are supported")
    raw = body.get("expires_in")
    if raw is None or raw == "":
        return token, default_lifetime
    try:
        lifetime = float(str(raw).strip())
    except ValueError:
        raise ResponseError(f"the token endpoint's expires_in is not a number: {str(raw)[:20]!r}") from None
    if lifetime <= 0:
        raise ResponseError(f"the token endpoint's expires_in is not positive: {str(raw)[:20]!r}")
    return token, lifetime
