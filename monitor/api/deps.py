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


def _matches(presented: bytes, token: SecretStr | None) -> bool:
    # compare_digest keeps the comparison time independent of where the strings differ.
    return token is not None and hmac.compare_digest(presented, token.get_secret_value().encode())


def _check(request: Request, runtime: Runtime, token: SecretStr | None) -> None:
    """Allow the endpoint class's token or the admin token; 401 for none or an unknown one, 403 for another class's."""
    if token is None:
        return
    settings = runtime.settings
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    presented = value.strip().encode() if scheme.lower() == "bearer" else b""
    # Every comparison runs, so the time taken does not tell which token matched.
    wanted, admin = _matches(presented, token), _matches(presented, settings.admin_token)
    known = [_matches(presented, t) for t in (settings.ingest_token, settings.read_token)]
    if wanted or admin:
        return
    if any(known):
        raise HTTPException(status_code=403, detail="this token does not grant access to this endpoint")
    raise HTTPException(status_code=401, detail="missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})


def require_ingest(request: Request, runtime: RuntimeDep) -> None:
    _check(request, runtime, runtime.settings.ingest_token)


def require_admin(request: Request, runtime: RuntimeDep) -> None:
    _check(request, runtime, runtime.settings.admin_token)


def require_read(request: Request, runtime: RuntimeDep) -> None:
    _check(request, runtime, runtime.settings.read_token)


IngestAuth = Depends(require_ingest)
AdminAuth = Depends(require_admin)
ReadAuth = Depends(require_read)
