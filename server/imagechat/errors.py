"""Errors that reach clients as `{"error": code, "message": ...}` with an HTTP status."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers

    def as_json(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}


def invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_field", f"{field}: {message}")


def not_found(what: str, key: str) -> ApiError:
    return ApiError(404, f"{what}_not_found", f"no {what} {key!r}")


async def api_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.as_json(), status_code=exc.status, headers=exc.headers)
