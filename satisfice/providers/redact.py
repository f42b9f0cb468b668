"""Keeping a deployment's own secrets out of upstream text.

A provider may echo what it received ("Incorrect API key provided: sk-...") in an error body or an
error event. Whatever upstream text reaches a client or the ledger passes through `redact` first:
the runner applies it where upstream words enter (error bodies, error events inside streams,
messages of failed reads), so nothing downstream has to think about it.

A deployment's secrets are its api_key, the values of its configured headers (and the token after
a "Bearer"/"Basic" scheme), the user and password in its base_url (and the Basic token aiohttp
builds from them), and the values in its base_url's query string. Values shorter than
`MIN_SECRET_LEN` are left alone: they cannot be told apart from ordinary words, and no credential
is that short. Each secret is also looked for JSON-escaped and percent-encoded.
"""

from __future__ import annotations

import base64
import functools
import urllib.parse

import orjson

from satisfice.providers.base import Deployment

REDACTED = "[redacted]"
MIN_SECRET_LEN = 6


@functools.lru_cache(maxsize=1024)
def secrets_of(dep: Deployment) -> tuple[str, ...]:
    """Every form of the deployment's secrets that may show up in text, longest first."""
    found: set[str] = set()
    if dep.api_key:
        found.add(dep.api_key)
    for _, value in dep.headers:
        found.add(value)
        scheme, _, token = value.partition(" ")
        if scheme.lower() in ("bearer", "basic", "token") and token:
            found.add(token.strip())
    try:
        parts = urllib.parse.urlsplit(dep.base_url)
    except ValueError:
        parts = None
    if parts is not None:
        user, password = parts.username or "", parts.password or ""
        found.update((user, password, urllib.parse.unquote(user), urllib.parse.unquote(password)))
        if user or password:
            # What aiohttp sends as `Authorization: Basic ...` for credentials in the URL.
            pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
            found.add(base64.b64encode(pair.encode("latin-1", "replace")).decode())
        for _, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=False):
            found.add(value)
    forms: set[str] = set()
    for secret in found:
        if len(secret) < MIN_SECRET_LEN:
            continue
        in_json = orjson.dumps(secret).decode()[1:-1]  # as it reads inside a JSON string
        forms.update((secret, in_json, in_json.replace("/", "\\/")))  # some encoders escape '/' too
        forms.add(urllib.parse.quote(secret, safe=""))  # as it reads inside a URL
    return tuple(sorted(forms, key=len, reverse=True))


@functools.lru_cache(maxsize=1024)
def _secret_bytes(dep: Deployment) -> tuple[bytes, ...]:
    return tuple(s.encode() for s in secrets_of(dep))


def redact(text: str, dep: Deployment | None) -> str:
    """`text` with every secret of `dep` replaced by "[redacted]"."""
    if dep is None:
        return text
    for secret in secrets_of(dep):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_opt(text: str | None, dep: Deployment | None) -> str | None:
    return None if text is None else redact(text, dep)


def redact_bytes(data: bytes, dep: Deployment | None) -> bytes:
    """`redact` for raw upstream bytes (an SSE event's data)."""
    if dep is None:
        return data
    for secret in _secret_bytes(dep):
        if secret in data:
            data = data.replace(secret, REDACTED.encode())
    return data
