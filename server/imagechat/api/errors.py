"""Storage's refusals as HTTP answers: the one place they are mapped."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from imagechat.storage.errors import Busy, Conflict, Forbidden, Full, NotFound, StorageError

STATUS = {NotFound: 404, Forbidden: 403, Conflict: 409, Full: 409, Busy: 503}


async def storage_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StorageError)
    headers = {"Retry-After": "1"} if isinstance(exc, Busy) else None
    return JSONResponse({"error": exc.code, "message": exc.message}, status_code=STATUS[type(exc)], headers=headers)
