"""One error tree. Each error knows its HTTP status and OpenAI error type; one handler renders it."""

from __future__ import annotations

from typing import Any

import orjson


class GatewayError(Exception):
    status = 500
    type = "api_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if error_type is not None:
            self.type = error_type
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def body_bytes(self) -> bytes:
        return orjson.dumps(self.body())


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class RequestTimeout(GatewayError):
    status = 408
    type = "invalid_request_error"
    code = "request_timeout"


class BodyTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class UnsupportedMediaType(GatewayError):
    status = 415
    type = "invalid_request_error"
    code = "unsupported_media_type"


class ContextWindowExceeded(InvalidRequest):
    code = "context_length_exceeded"


class RateLimited(GatewayError):
    """OpenAI's own limits say which kind ran out in the type ("requests" or "tokens"); a 429 from
    elsewhere (every candidate's upstream refusing) keeps the generic type."""

    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class UpstreamFailed(GatewayError):
    """An upstream answered with an error we pass on (status mirrors the upstream's where sensible)."""

    status = 502
    type = "api_error"
    code = "upstream_error"


class UpstreamTimeout(GatewayError):
    status = 504
    type = "api_error"
    code = "upstream_timeout"


class AllCandidatesFailed(GatewayError):
    status = 502
    type = "api_error"
    code = "all_candidates_failed"


class InternalError(GatewayError):
    """A bug of ours: the request fails alone, the process and other requests go on."""

    status = 500
    type = "api_error"
    code = "internal_error"


class ServiceUnavailable(GatewayError):
    status = 503
    type = "api_error"
    code = "service_unavailable"


class GatewaySaturated(ServiceUnavailable):
    """The gateway's own upstream connection pool stayed full: no provider was called or is to blame."""

    code = "gateway_saturated"
