"""The Gemini dialect: Google's Generative Language API (v1beta `generateContent`).

Translation is split by direction: `gemini_request` (OpenAI request → Gemini body, with
`gemini_schema` for JSON Schemas), `gemini_response` (whole response) and `gemini_stream` (SSE).

Things a caller should know:
* the key goes in the `x-goog-api-key` header, never in the URL (URLs end up in logs);
* tool schemas and `json_schema` response formats are reduced to Gemini's schema subset
  (see `gemini_schema`), so some constraints are loosened rather than rejected;
* a returned tool call carries Gemini's thought signature in `extra_content.google.thought_signature`
  and the request builder sends it back; clients that drop it still work (a documented skip value
  is sent instead);
* a prompt blocked by Gemini's filters comes back as a normal completion with one choice whose
  content is null and finish_reason is "content_filter".
"""

from __future__ import annotations

import re

import orjson

from satisfice.providers.base import JSON, Deployment, ErrorInfo, UpstreamRequest, path_segment, upstream_url
from satisfice.providers.gemini_request import build_body
from satisfice.providers.gemini_response import parse_response
from satisfice.providers.gemini_stream import GeminiStreamTranslator

# "The input token count (1200293) exceeds the maximum number of tokens allowed (1048576)."
_CONTEXT_RE = re.compile(
    r"exceeds the maximum number of tokens|input token count.*exceeds|exceeds.*context (window|length)",
    re.IGNORECASE | re.DOTALL,
)


class GeminiDialect:
    name = "gemini"

    def build_chat(self, dep: Deployment, body: JSON, *, stream: bool) -> UpstreamRequest:
        # Tolerate ids copied from the models list; the rest is one path segment whatever it holds
        # (passthrough sends client names).
        model = path_segment(dep.upstream_model.removeprefix("models/"))
        if stream:
            url = upstream_url(dep, f"/models/{model}:streamGenerateContent?alt=sse")
        else:
            url = upstream_url(dep, f"/models/{model}:generateContent")
        headers = {"content-type": "application/json"}
        if dep.api_key:
            headers["x-goog-api-key"] = dep.api_key
        headers.update(dict(dep.headers))
        payload = orjson.dumps(build_body(body, model=dep.upstream_model))
        return UpstreamRequest("POST", url, headers, payload, dep)

    def parse_chat(self, dep: Deployment, raw: bytes) -> JSON:
        return parse_response(dep, raw)

    def stream_translator(self, dep: Deployment) -> GeminiStreamTranslator:
        return GeminiStreamTranslator(dep)

    def error_info(self, status: int, raw: bytes) -> ErrorInfo:
        err, message = _error(raw)
        message = message or f"Gemini returned HTTP {status}"
        return ErrorInfo(
            message=message,
            context_window_exceeded=bool(_CONTEXT_RE.search(message)),
            refused=err is not None and _deployment_refused(err),
        )


def _error(raw: bytes) -> tuple[JSON | None, str | None]:
    """Google's error object (None when the body holds none) and its message (or status); a body
    that is not JSON is its own message (e.g. an HTML page from a proxy in front of Google)."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, raw.decode("utf-8", "replace").strip()[:500] or None
    if isinstance(obj, list) and obj:
        obj = obj[0]  # the non-SSE stream endpoint wraps errors in an array
    err = obj.get("error") if isinstance(obj, dict) else None
    if not isinstance(err, dict):
        return None, None
    for key in ("message", "status"):
        said = err.get(key)
        if isinstance(said, str) and said:
            return err, said
    return err, None


def _deployment_refused(err: JSON) -> bool:
    """Whether a Gemini error refuses the deployment rather than the request. Google answers a key
    that is not valid (or expired) with a 400 INVALID_ARGUMENT whose details say API_KEY_INVALID, and
    a project the API is not available to (its region, no billing) with a 400 FAILED_PRECONDITION;
    neither is the client's to fix, and another deployment may take the same request."""
    if err.get("status") == "FAILED_PRECONDITION":
        return True
    details = err.get("details")
    return isinstance(details, list) and any(
        isinstance(d, dict) and d.get("reason") == "API_KEY_INVALID" for d in details
    )


GEMINI = GeminiDialect()
