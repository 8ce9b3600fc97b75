"""Shared FastAPI dependencies: the runtime and bearer-token checks."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from pydantic import SecretStr

from monitor.api.runtime import Runtime

__all__ = ["AdminAuth", "IngestAuth", "ReadAuth", "RuntimeDep"]


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _check(request: Request, token: SecretStr | None) -> None:
    if token is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    expected = token.get_secret_value().encode()
    # compare_digest keeps the comparison time independent of where the strings differ.
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), expected):
        raise HTTPException(status_code=401, detail="missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})


def require_ingest(request: Request, runtime: RuntimeDep) -> None:
    _check(request, runtime.settings.ingest_token)


def require_admin(request: Request, runtime: RuntimeDep) -> None:
    _check(request, runtime.settings.admin_token)


def require_read(request: Request, runtime: RuntimeDep) -> None:
    _check(request, runtime.settings.read_token)


IngestAuth = Depends(require_ingest)
AdminAuth = Depends(require_admin)
ReadAuth = Depends(require_read)
