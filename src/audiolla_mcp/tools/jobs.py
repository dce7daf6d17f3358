"""Background job tools: status, result, cancel, list."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from ..jobs import JobRecord
from . import tool
from .common import Reply, app_of, reply_result

JobIdArg = Annotated[str, Field(min_length=1, max_length=64, description="The job_id a tool returned with background=true.")]


class JobInfo(BaseModel):
    job_id: str
    tool: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
    progress: float | None = Field(description="0..1 when known.")
    message: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    error: str | None


class JobResult(JobInfo):
    summary: str | None
    result: dict[str, Any] | None = Field(description="The tool's own result, as it would have returned it inline.")


class JobList(BaseModel):
    jobs: list[JobInfo]


def _info(record: JobRecord) -> JobInfo:
    return JobInfo(
        job_id=record.id,
        tool=record.tool,
        status=record.status,
        progress=record.progress,
        message=record.message,
        created_at=record.created_at,
        started_at=record.started_at,
        finished_at=record.finished_at,
        error=record.error,
    )


def _describe(record: JobRecord) -> str:
    pct = f" {record.progress * 100:.0f}%" if record.progress is not None and record.status == "running" else ""
    tail = f": {record.error}" if record.error else (f": {record.message}" if record.message else "")
    return f"Job {record.id} ({record.tool}) is {record.status}{pct}{tail}"


@tool
async def job_status(ctx: Context, job_id: JobIdArg) -> Annotated[CallToolResult, JobInfo]:
    app = app_of(ctx)
    record = app.jobs.get(job_id)
    return reply_result(app, Reply(result=_info(record), summary=_describe(record) + "."))


@tool
async def job_result(ctx: Context, job_id: JobIdArg) -> Annotated[CallToolResult, JobResult]:
    app = app_of(ctx)
    record = app.jobs.get(job_id)
    result = JobResult(**_info(record).model_dump(), summary=record.summary, result=record.result)
    if record.status == "succeeded":
        summary = record.summary or _describe(record)
    elif record.status in ("queued", "running"):
        summary = _describe(record) + "; call job_result again when job_status says succeeded."
    else:
        summary = _describe(record) + "."
    return reply_result(app, Reply(result=result, summary=summary))


@tool
async def job_cancel(ctx: Context, job_id: JobIdArg) -> Annotated[CallToolResult, JobInfo]:
    app = app_of(ctx)
    record = app.jobs.cancel(job_id)
    note = "" if record.status in ("cancelled", "succeeded", "failed", "interrupted") else " (stopping at its next checkpoint)"
    return reply_result(app, Reply(result=_info(record), summary=_describe(record) + note + "."))


@tool
async def job_list(
    ctx: Context,
    status: Annotated[
        Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"] | None,
        Field(description="Only jobs in this state."),
    ] = None,
    limit: Annotated[int, Field(ge=1, le=500, description="Maximum number of jobs, newest first.")] = 50,
) -> Annotated[CallToolResult, JobList]:
    app = app_of(ctx)
    records = app.jobs.list(status)[:limit]
    summary = f"{len(records)} job(s)" + (f" {status}" if status else "") + "."
    return reply_result(app, Reply(result=JobList(jobs=[_info(r) for r in records]), summary=summary))
