"""The Annofab bulk imports: one driver per operation on the shared bulk engine.

Every driver reads first and writes only what differs, so a rerun is all
``unchanged``; every write is safe to retry (an idempotent PATCH or upsert, or a
PUT under a lock), and a refusal of a retried write (409, 404) is settled by reading
again (:func:`._bulk_models.after_conflict`), so a write is never applied twice when
answers are lost. :class:`BulkImports` puts them on :class:`Project`.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
import orjson

from .. import _config
from .._args import require_flag
from .._bulk import BulkFailure, BulkProgress, BulkResult, Outcome
from .._errors import ConflictError, InvalidArgumentError, NotFoundError, ResponseDecodeError
from .._transport import check_base_url
from . import _protocol as proto
from . import _protocol_data as pdata
from ._bulk_models import (
    AnnotationImport,
    CommentImport,
    InputDataImport,
    InvalidItemError,
    Settle,
    UploadError,
    after_conflict,
    annotation_matches,
    check_metadata,
    checked,
    comment_changes,
    input_data_matches,
    metadata_items,
    metadata_settled,
)
from ._models_data import Comment, EditorAnnotation, InputData

if TYPE_CHECKING:
    from ._session import AnnofabSession

__all__ = ["BulkImports"]

#: Writes of one item after 409s that were someone else's (``overwrite=True``).
MAX_OVERWRITES = 5

Progress = Callable[[BulkProgress], object] | None
Failures = Callable[[BulkFailure], object] | None


def _key(work: object) -> str:
    if isinstance(work, AnnotationImport | CommentImport):
        return work.key
    if isinstance(work, InputDataImport):
        return str(work.input_data_id)
    if isinstance(work, tuple | list) and work:
        first = work[0]
        if isinstance(work, tuple | list) and len(work) == 3 and isinstance(work[1], str):
            return f"{first}/{work[1]}"
        return str(first)
    return work if isinstance(work, str) else repr(work)


class _Run:
    """What every import shares: a session with the bulk retry budget, the engine."""

    def __init__(self, session: AnnofabSession, project_id: str, max_retries: int | None):
        self.session = session.bulk_view(max_retries)
        self.project_id = project_id
        self.retries = self.session.options.retry.max_retries

    async def __call__(
        self,
        items: Iterable[Any] | AsyncIterable[Any],
        apply: Callable[[Any], Awaitable[Outcome]],
        concurrency: int,
        on_progress: Progress,
        on_failure: Failures,
        fail_fast: bool,
    ) -> BulkResult:
        return await self.session.run_bulk(
            items,
            apply,
            key=_key,
            concurrency=concurrency,
            on_progress=on_progress,
            on_failure=on_failure,
            fail_fast=fail_fast,
        )

    async def annotation(self, task_id: str, input_data_id: str) -> EditorAnnotation:
        data = await self.session.api.get_editor_annotation(
            self.project_id, task_id, input_data_id, query_params={"v": "2"}
        )
        return pdata.read_editor_annotation(data)

    async def input_data(self, input_data_id: str) -> InputData | None:
        try:
            data = await self.session.api.get_input_data(self.project_id, input_data_id)
        except NotFoundError:
            return None
        return pdata.read(data, InputData)


class _Metadata:
    def __init__(self, run: _Run, merge: bool) -> None:
        self.run = run
        self.merge = merge

    async def apply(self, work: object) -> Outcome:
        task_id, wanted = checked(lambda: check_metadata(*_two(work)))
        response = await self.run.session.send(proto.task_request(self.run.project_id, task_id))
        task = proto.read_task(response.content)
        if self.merge:
            wanted = {**task.metadata, **wanted}
        if metadata_settled(task.metadata, wanted):
            return Outcome.UNCHANGED
        # The PATCH replaces the metadata whole: repeating it is harmless.
        answer = await self.run.session.api.patch_tasks_metadata(
            self.run.project_id, request_body={task_id: wanted}
        )
        if not isinstance(answer.get("message", ""), str):
            raise ResponseDecodeError("patchTasksMetadata: message is not a string", path="$")
        return Outcome.UPDATED


def _two(work: object) -> tuple[object, object]:
    if isinstance(work, tuple | list) and len(work) == 2:
        return work[0], work[1]
    raise InvalidArgumentError(f"each item must be a (task_id, metadata) pair, got {work!r}")


class _Annotations:
    def __init__(self, run: _Run, overwrite: bool) -> None:
        self.run = run
        self.overwrite = overwrite

    async def apply(self, work: object) -> Outcome:
        item = checked(lambda: AnnotationImport.of(work))
        current = await self.run.annotation(item.task_id, item.input_data_id)
        if annotation_matches(current, item.details):
            return Outcome.UNCHANGED
        lock = current.updated_datetime
        given = item.updated_datetime
        if given is not None and given != lock and not self.overwrite:
            raise _conflict(item, "it was changed by someone else since you read it")
        for _ in range(MAX_OVERWRITES + 1):
            body = pdata.editor_annotation_body(
                self.run.project_id, item.task_id, item.input_data_id, item.details, lock
            )
            try:
                data = await self.run.session.api.put_annotation(
                    self.run.project_id,
                    item.task_id,
                    item.input_data_id,
                    query_params={"v": "2"},
                    request_body=body,
                )
            except ConflictError as conflict:
                current = await self.run.annotation(item.task_id, item.input_data_id)
                settle = after_conflict(
                    matches=annotation_matches(current, item.details), overwrite=self.overwrite
                )
                if settle is Settle.OURS:
                    return Outcome.UPDATED
                if settle is Settle.CONFLICT:
                    raise conflict
                lock = current.updated_datetime
                continue
            pdata.read_editor_annotation(data)  # a hostile answer is a typed error
            return Outcome.UPDATED
        raise _conflict(item, f"changed by someone else {MAX_OVERWRITES + 1} times in a row")


def _conflict(item: AnnotationImport, why: str) -> ConflictError:
    return ConflictError(409, f"{item.key}: {why}; left as it is", error_type="CONFLICT")


class _Comments:
    def __init__(self, run: _Run) -> None:
        self.run = run

    async def read(self, item: CommentImport) -> list[Comment]:
        data = await self.run.session.api.get_comments(
            self.run.project_id, item.task_id, item.input_data_id
        )
        return pdata.read_list(data, Comment)

    async def apply(self, work: object) -> Outcome:
        item = checked(lambda: CommentImport.of(work))
        batch = comment_changes(await self.read(item), item)
        if not batch:
            return Outcome.UNCHANGED
        for _ in range(MAX_OVERWRITES + 1):
            try:
                answer = await self.run.session.api.batch_update_comments(
                    self.run.project_id, item.task_id, item.input_data_id, request_body=batch
                )
            except NotFoundError:
                # A Delete met a comment already gone: an earlier attempt of ours (its
                # answer lost) or someone else; the Puts are upserts. Decide afresh.
                batch = comment_changes(await self.read(item), item)
                if not batch:
                    return Outcome.UPDATED
                continue
            pdata.read_list(answer, Comment)  # a hostile answer is a typed error
            return Outcome.UPDATED
        raise ConflictError(409, f"{item.key}: the comments keep changing", error_type="CONFLICT")


class _Deletes:
    def __init__(self, run: _Run, missing_ok: bool) -> None:
        self.run = run
        self.missing_ok = missing_ok

    async def apply(self, work: object) -> Outcome:
        if not isinstance(work, str) or not work.strip():
            raise InvalidItemError(f"each item must be a task id, got {work!r}")
        try:
            await self.run.session.send(proto.task_request(self.run.project_id, work))
        except NotFoundError:
            if self.missing_ok:
                return Outcome.UNCHANGED
            raise
        try:
            data = await self.run.session.api.delete_task(self.run.project_id, work)
        except NotFoundError:
            # It was there a moment ago: an attempt of ours deleted it and its answer was
            # lost (a retry, or the HTTP library's own re-send, found it gone).
            return Outcome.UPDATED
        proto.read_task(_encoded(data))  # a hostile answer is a typed error
        return Outcome.UPDATED


def _encoded(data: Any) -> bytes:
    return orjson.dumps(data)


class _Inputs:
    def __init__(self, run: _Run, http: aiohttp.ClientSession | None) -> None:
        self.run = run
        self.http = http

    async def apply(self, work: object) -> Outcome:
        item = checked(lambda: InputDataImport.of(work))
        current = await self.run.input_data(item.input_data_id)
        if input_data_matches(current, item):
            return Outcome.UNCHANGED
        path = item.input_data_path
        if path is None:
            path = await self._upload(item)
        body = pdata.input_data_body(
            item.input_data_name,
            path,
            metadata=item.metadata,
            sign_required=None,
            last_updated_datetime=None if current is None else current.updated_datetime,
        )
        try:
            data = await self.run.session.api.put_input_data(
                self.run.project_id, item.input_data_id, request_body=body
            )
        except ConflictError:
            now = await self.run.input_data(item.input_data_id)
            same = input_data_matches(now, item) and (
                now is not None and (item.upload is None or now.input_data_path == path)
            )
            if after_conflict(matches=same, overwrite=False) is Settle.OURS:
                return Outcome.UPDATED
            raise
        pdata.read(data, InputData)
        return Outcome.UPDATED

    async def _upload(self, item: InputDataImport) -> str:
        """POST create-temp-path, PUT the bytes to its signed URL (no Annofab
        credentials), check the ETag is their MD5; the temporary path."""
        assert item.upload is not None
        assert self.http is not None
        try:
            content = await anyio.Path(item.upload).read_bytes()
        except OSError as error:
            raise UploadError(
                f"{item.input_data_id}: cannot read {item.upload.name!r}: {error.strerror}",
                code="unreadable_file",
            ) from None
        data = await self.run.session.api.create_temp_path(self.run.project_id)
        url, path = data.get("url"), data.get("path")
        if not isinstance(url, str) or not isinstance(path, str) or not path:
            raise ResponseDecodeError("createTempPath: url and path must be strings", path="$")
        check_base_url(url, allow_insecure_http=False, argument="the temporary upload URL")
        digest = hashlib.md5(content, usedforsecurity=False)
        kind = mimetypes.guess_type(item.input_data_name)[0] or "application/octet-stream"
        headers = {
            "Content-Type": kind,
            "Content-MD5": base64.b64encode(digest.digest()).decode(),
        }
        etag = await self._put(url, content, headers, item.input_data_id)
        if etag.strip('"') != digest.hexdigest():
            raise UploadError(
                f"{item.input_data_id}: the upload arrived damaged (ETag {etag!r} is not the "
                f"file's MD5 {digest.hexdigest()}); not registered",
                code="upload_mismatch",
            )
        return path

    async def _put(self, url: str, content: bytes, headers: dict[str, str], name: str) -> str:
        """The PUT, retried on a lost answer or a 5xx (the same bytes to the same key)."""
        assert self.http is not None
        problem = ""
        for attempt in range(self.run.retries + 1):
            if attempt:
                await anyio.sleep(min(_config.ANNOFAB_UPLOAD_BACKOFF_CAP, 0.01 * 2**attempt))
            try:
                async with self.http.put(
                    url, data=content, headers=headers, allow_redirects=False
                ) as response:
                    await response.read()
                    if response.status < 300:
                        return response.headers.get("ETag", "")
                    problem = f"the object store answered {response.status}"
                    if response.status < 500 and response.status != 429:
                        break
            except (aiohttp.ClientError, TimeoutError) as error:
                problem = f"the upload failed ({type(error).__name__})"
        raise UploadError(f"{name}: {problem}; not registered")


class BulkImports:
    """The bulk imports of a :class:`Project` (mixed in)."""

    if TYPE_CHECKING:  # set by Project; not runtime annotations (hints must resolve)
        _session: AnnofabSession
        id: str

    async def bulk_patch_metadata(
        self,
        items: Mapping[str, Mapping[str, Any]] | Iterable[tuple[str, Mapping[str, Any]]],
        *,
        merge: bool = False,
        concurrency: int = _config.ANNOFAB_BULK_CONCURRENCY,
        on_progress: Progress = None,
        on_failure: Failures = None,
        fail_fast: bool = False,
        max_retries: int | None = None,
    ) -> BulkResult:
        """Set many tasks' metadata; one outcome per task.

        ``items`` maps task ids to metadata (values: strings, numbers, booleans), or
        is an iterable of ``(task_id, metadata)`` pairs, read lazily. Each task is read;
        one whose metadata already equals the new one is ``unchanged``, else one
        ``PATCH /tasks/metadata`` replaces it whole (``merge=True``: the given keys are
        added to the ones there). The PATCH is idempotent, so retries are safe.

            result = await project.bulk_patch_metadata({"t-1": {"priority": 2}})
        """
        require_flag(merge, "merge")
        run = _Run(self._session, self.id, max_retries)
        driver = _Metadata(run, merge)
        inputs = metadata_items(items)
        return await run(inputs, driver.apply, concurrency, on_progress, on_failure, fail_fast)

    async def bulk_put_annotations(
        self,
        items: Iterable[AnnotationImport | tuple[str, str, Iterable[Any]]]
        | AsyncIterable[AnnotationImport],
        *,
        overwrite: bool = False,
        concurrency: int = _config.ANNOFAB_BULK_CONCURRENCY,
        on_progress: Progress = None,
        on_failure: Failures = None,
        fail_fast: bool = False,
        max_retries: int | None = None,
    ) -> BulkResult:
        """Import editor annotations: each item replaces the annotations of one input
        data of a task with its ``details`` (:class:`NewAnnotation` objects with
        ids chosen by you). One outcome per item.

        Each item's annotation is read; one that already holds exactly these details
        is ``unchanged``. An item carrying the ``updated_datetime`` you read fails
        ``conflict`` when the annotation changed since (``overwrite=True``: written
        anyway). Otherwise it is PUT under the lock just read. A 409 reads it again:

        * it now equals what we sent: an attempt of ours landed and its answer was
          lost (a retry, or the HTTP library's own re-send, met our own write), so it
          is counted once, ``updated``;
        * someone else changed it: failed ``conflict``, or with ``overwrite=True`` PUT
          again under the new lock (at most ``MAX_OVERWRITES`` times).

        So a write is never applied twice, whatever answers are lost.

            items = [AnnotationImport("t-1", "in-1", [NewAnnotation(annotation_id="a1",
                     label_id=car.label_id, body=box)])]
            result = await project.bulk_put_annotations(items)
        """
        require_flag(overwrite, "overwrite")
        if isinstance(items, list | tuple):
            items = [AnnotationImport.of(i, n) for n, i in enumerate(items)]
        run = _Run(self._session, self.id, max_retries)
        driver = _Annotations(run, overwrite)
        return await run(items, driver.apply, concurrency, on_progress, on_failure, fail_fast)

    async def bulk_update_comments(
        self,
        items: Iterable[CommentImport] | AsyncIterable[CommentImport],
        *,
        concurrency: int = _config.ANNOFAB_BULK_CONCURRENCY,
        on_progress: Progress = None,
        on_failure: Failures = None,
        fail_fast: bool = False,
        max_retries: int | None = None,
    ) -> BulkResult:
        """Put and delete comments of many input data, one batch request each, with
        comment ids you choose. One outcome per item.

        The comments are read first; Puts already stored as given and Deletes of
        comments already gone are left out, and an item with nothing left is
        ``unchanged``. A Put with a given id is an upsert (safe to repeat); a 404 (a
        Delete that an earlier, lost attempt already did) reads again and sends what
        is still left.

            me = await af.account_id()
            put = [CommentPut(comment_id="c-t1", account_id=me, comment="box too small")]
            await project.bulk_update_comments([CommentImport("t-1", "in-1", put=put)])
        """
        if isinstance(items, list | tuple):
            items = [CommentImport.of(i, n) for n, i in enumerate(items)]
        run = _Run(self._session, self.id, max_retries)
        driver = _Comments(run)
        return await run(items, driver.apply, concurrency, on_progress, on_failure, fail_fast)

    async def bulk_delete_tasks(
        self,
        task_ids: Iterable[str] | AsyncIterable[str],
        *,
        missing_ok: bool = False,
        concurrency: int = _config.ANNOFAB_BULK_CONCURRENCY,
        on_progress: Progress = None,
        on_failure: Failures = None,
        fail_fast: bool = False,
        max_retries: int | None = None,
    ) -> BulkResult:
        """Delete many tasks (project owners); one outcome per id.

        Each task is read first: a missing one is failed ``not_found``
        (``missing_ok=True``: ``unchanged``) and sent no DELETE. A 404 answering the
        DELETE then is ours: an attempt of ours deleted the task and its answer was lost
        (a retry, or the HTTP library's own re-send of a DELETE, found it gone), so it
        is counted once, ``updated``.

            result = await project.bulk_delete_tasks(["t-1", "t-2"])
        """
        if isinstance(task_ids, str):
            raise InvalidArgumentError("task_ids must be a list of ids, not a single string")
        if isinstance(task_ids, list | tuple):
            for n, t in enumerate(task_ids):
                proto_id = t if isinstance(t, str) and t.strip() else None
                if proto_id is None:
                    raise InvalidArgumentError(f"task_ids[{n}] must be a task id, got {t!r}")
        run = _Run(self._session, self.id, max_retries)
        driver = _Deletes(run, missing_ok)
        return await run(task_ids, driver.apply, concurrency, on_progress, on_failure, fail_fast)

    async def bulk_put_input_data(
        self,
        items: Iterable[InputDataImport] | AsyncIterable[InputDataImport],
        *,
        concurrency: int = _config.ANNOFAB_BULK_CONCURRENCY,
        on_progress: Progress = None,
        on_failure: Failures = None,
        fail_fast: bool = False,
        max_retries: int | None = None,
    ) -> BulkResult:
        """Register many input data (project owners); one outcome per item.

        One that exists with the same name and metadata (and path, when given) is
        ``unchanged``; a changed one is updated under its lock. With ``upload=Path`` the
        file goes first to a temporary path (``create-temp-path``, then a PUT to its
        signed URL without Annofab credentials); an ETag that is not the file's MD5
        fails the item (``upload_mismatch``) and registers nothing.

            items = [InputDataImport("in-1", "a.jpg", upload=Path("a.jpg"))]
            result = await project.bulk_put_input_data(items)
        """
        if isinstance(items, list | tuple):
            items = [InputDataImport.of(i, n) for n, i in enumerate(items)]
        run = _Run(self._session, self.id, max_retries)
        async with AsyncExitStack() as stack:
            timeout = aiohttp.ClientTimeout(total=_config.ANNOFAB_UPLOAD_TIMEOUT)
            http = await stack.enter_async_context(aiohttp.ClientSession(timeout=timeout))
            driver = _Inputs(run, http)
            return await run(items, driver.apply, concurrency, on_progress, on_failure, fail_fast)
