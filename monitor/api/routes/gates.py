"""The progressive-delivery gate: Argo Rollouts `web` metric and Flagger webhook (see monitor.gate)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from collectors.errors import DecodeError
from monitor.api.body import read_capped
from monitor.api.deps import ReadAuth, RuntimeDep
from monitor.api.routes.series import read_buckets  # the exactly-once read of GET /api/v1/series
from monitor.api.runtime import Runtime
from monitor.gate import Gate
from monitor.series import Bucket

router = APIRouter(prefix="/api/v1/gates", tags=["gates"], dependencies=[ReadAuth])

VersionQuery = Annotated[str | None, Query(max_length=128, description="The canary version to judge.")]
BaselineQuery = Annotated[
    str | None, Query(max_length=128, description="Stable version to compare with (default: the busiest other version).")
]
_MAX_FLAGGER_BYTES = 64 * 1024


class CheckOut(BaseModel):
    name: str
    status: str = Field(description="'pass', 'fail' or 'skip' (not enough data for this check).")
    detail: str
    p_value: float | None
    effect: float | None


class GateOut(BaseModel):
    ok: bool | None = Field(description="true: pass; false: fail; null: not enough evidence yet.")
    score: float = Field(description="Share of the checks that ran and passed (0 when none ran).")
    reasons: list[str]
    model: str
    version: str | None
    baseline: str | None = None
    samples: dict[str, int] = {}
    checks: list[CheckOut] = []


class FlaggerPayload(BaseModel):
    """What Flagger POSTs to a webhook (extra fields are ignored)."""

    name: str = ""
    namespace: str = ""
    phase: str = ""
    metadata: dict[str, str] = {}


def _gate(runtime: Runtime) -> Gate:
    if runtime.gate is None:  # only a hand-built runtime lacks one
        raise HTTPException(503, "the gate is not running in this server")
    return runtime.gate


def _evaluate(runtime: Runtime, model: str, version: str, baseline: str | None) -> GateOut:
    def read_series(name: str, start: float, end: float) -> list[Bucket]:
        stored, live = read_buckets(runtime, name, start, end)
        return stored + live

    try:
        decision = _gate(runtime).evaluate(model, version, read_series, baseline)
    except HTTPException as exc:  # evidence unavailable right now (series being checkpointed, say)
        return GateOut(ok=None, score=0.0, reasons=[f"evidence unavailable: {exc.detail}"], model=model, version=version)
    return GateOut.model_validate(decision.to_dict())


@router.get("/{model}")
def get_gate(model: str, runtime: RuntimeDep, version: VersionQuery = None, baseline: BaselineQuery = None) -> GateOut:
    """Pass/fail/unknown for a canary version; always 200 (Argo Rollouts `web` provider, jsonPath `{$.ok}`)."""
    if not version:
        known = sorted({v for m, v in runtime.kinds.models() if m == model})
        if len(known) != 1:
            reason = f"pass ?version= (known versions of {model!r}: {known})" if known else f"model {model!r} is unknown"
            return GateOut(ok=None, score=0.0, reasons=[reason], model=model, version=None)
        version = known[0]
    return _evaluate(runtime, model, version, baseline)


@router.post("/{model}/flagger", responses={412: {"model": GateOut, "description": "fail, or not enough evidence yet"}})
async def flagger_gate(
    model: str, request: Request, runtime: RuntimeDep, version: VersionQuery = None, baseline: BaselineQuery = None
) -> JSONResponse:
    """Flagger webhook: 200 when the canary passes, 412 when it fails or evidence is still insufficient."""
    gate = _gate(runtime)
    try:
        body = await read_capped(request, _MAX_FLAGGER_BYTES)
    except DecodeError as exc:
        gate.reject(exc.reason)
        raise HTTPException(exc.status, exc.message) from None
    payload = FlaggerPayload()
    if body.strip():
        try:
            payload = FlaggerPayload.model_validate(json.loads(body))
        except (ValueError, ValidationError) as exc:
            gate.reject("malformed")
            raise HTTPException(400, f"body: not a Flagger webhook payload: {_first_error(exc)}") from None
    version = version or payload.metadata.get("version")
    if not version:
        gate.reject("missing_version")
        raise HTTPException(400, "version: give ?version= or metadata.version in the webhook payload")
    out = await run_in_threadpool(_evaluate, runtime, model, version, baseline or payload.metadata.get("baseline"))
    return JSONResponse(out.model_dump(), status_code=200 if out.ok else 412)


def _first_error(exc: Exception) -> Any:
    if isinstance(exc, ValidationError):
        error = exc.errors(include_url=False)[0]
        return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
    return str(exc)
