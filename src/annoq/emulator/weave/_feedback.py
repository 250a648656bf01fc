"""Feedback rows and annotation spec objects of the emulated Weave service.

Annotators' answers are feedback rows on calls; the questions are AnnotationSpec objects
(``field_schema`` is a JSON Schema). What is reproduced, as described in
docs/semantics/weave.md ("Feedback (the annotations themselves)"):

- ``/feedback/create`` and ``/feedback/batch/create`` (every row of a batch is checked
  before any is written); ``wb_user_id`` comes from the credentials; a client ``id`` is
  used as given, with no uniqueness check;
- human annotations (``feedback_type = "wandb.annotation." + NAME``) need an
  ``annotation_ref`` to a spec of the same project whose name is NAME, a payload
  ``{"value": ...}`` that fits the spec's ``field_schema``, and no scorer fields; a
  refusal is 400 ``InvalidRequest``;
- the payload cap, ``len(json.dumps(payload))``: 1 MiB (1,024 on older servers);
- storage keyed by ``(project_id, weave_ref, wb_user_id, id)`` with no version column: a
  row re-sent with the same id is stored again and both copies show until a merge
  (:meth:`FeedbackStore.merge`), after which the latest remains;
- ``/feedback/query`` with the ``$expr`` language (``$and``, ``$or``, ``$not``, ``$eq``,
  ``$in``, ``$gt``, ``$gte``, ``$lt``, ``$lte``, ``$contains``, ``$getField``,
  ``$literal``, ``$convert``), ``sort_by``, ``limit``/``offset``, ``fields``; no order
  without ``sort_by``; a filter on ``wb_user_id`` compares the stored (unconverted) id,
  so it never matches the id results show;
- ``/obj/create``, ``/obj/read`` and ``/refs/read_batch`` for spec objects.
"""

from __future__ import annotations

import base64
import hashlib
import json
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import attrs
import orjson
from aiohttp import web

from ..._json_schema import SchemaProblem, check_value
from .._http import json_response
from .._validation import ValidationFailed, error, parse_body
from ._app import HttpError
from ._store import EmulatorError, User, WeaveStore, format_ms

ANNOTATION_PREFIX: Final = "wandb.annotation."
CURRENT_PAYLOAD_LIMIT: Final = 1 << 20
LEGACY_PAYLOAD_LIMIT: Final = 1024
SCORER_FIELDS: Final = (
    "scorer_tags",
    "scorer_tag_reasons",
    "scorer_tag_confidences",
    "scorer_ratings",
    "scorer_rating_reasons",
    "scorer_rating_confidences",
)
FEEDBACK_ROUTE_NAMES: Final = (
    "weave.feedback_create",
    "weave.feedback_batch_create",
    "weave.feedback_query",
    "weave.obj_create",
    "weave.obj_read",
    "weave.refs_read_batch",
)
"""Route names of the feedback and object endpoints, as fault rules refer to them."""

_OPTIONAL_REFS: Final = ("annotation_ref", "runnable_ref", "call_ref", "trigger_ref")


@attrs.define(slots=True)
class FeedbackRow:
    """One stored feedback row (a copy per insert, as before a merge)."""

    id: str
    project_id: str
    weave_ref: str
    wb_user_id: str
    feedback_type: str
    payload: dict[str, Any]
    created_at: int
    creator: str | None = None
    annotation_ref: str | None = None
    runnable_ref: str | None = None
    call_ref: str | None = None
    trigger_ref: str | None = None
    queue_id: str | None = None
    seq: int = 0

    def to_json(self) -> dict[str, Any]:
        """The row as a query returns it."""
        return {
            "id": self.id,
            "project_id": self.project_id,
            "weave_ref": self.weave_ref,
            "wb_user_id": self.wb_user_id,
            "creator": self.creator,
            "feedback_type": self.feedback_type,
            "payload": self.payload,
            "annotation_ref": self.annotation_ref,
            "runnable_ref": self.runnable_ref,
            "call_ref": self.call_ref,
            "trigger_ref": self.trigger_ref,
            "queue_id": self.queue_id,
            "created_at": format_ms(self.created_at),
        }


@attrs.define(slots=True)
class StoredObject:
    """One version of an object (an AnnotationSpec, typically)."""

    project_id: str
    object_id: str
    digest: str
    val: Any
    created_at: int
    version_index: int
    wb_user_id: str

    @property
    def ref(self) -> str:
        """``weave:///entity/project/object/NAME:DIGEST``."""
        return f"weave:///{self.project_id}/object/{self.object_id}:{self.digest}"

    def to_json(self, *, latest: bool) -> dict[str, Any]:
        """The ``obj`` of ``/obj/read``."""
        kind = self.val.get("_class_name") if isinstance(self.val, dict) else None
        return {
            "project_id": self.project_id,
            "object_id": self.object_id,
            "digest": self.digest,
            "val": self.val,
            "created_at": format_ms(self.created_at),
            "version_index": self.version_index,
            "is_latest": 1 if latest else 0,
            "kind": "object",
            "base_object_class": kind,
            "leaf_object_class": kind,
            "wb_user_id": self.wb_user_id,
        }


def annotation_spec_val(
    name: str, field_schema: Mapping[str, Any], *, description: str | None = None
) -> dict[str, Any]:
    """The stored value of an AnnotationSpec object."""
    return {
        "_type": "AnnotationSpec",
        "_class_name": "AnnotationSpec",
        "_bases": ["BaseObject", "BaseModel"],
        "name": name,
        "description": description,
        "field_schema": dict(field_schema),
        "unique_among_creators": False,
        "op_scope": None,
    }


def _stored_user_id(user_id: str) -> str:
    # What a filter on wb_user_id is compared with: the internal, unconverted id.
    return "VXNlcjo" + base64.b64encode(user_id.encode()).decode("ascii")


class FeedbackStore:
    """Feedback rows and objects, beside a `WeaveStore` (which gives time and ids).

    Parameters, also settable later as attributes:
        max_payload_bytes: the payload cap (``CURRENT_PAYLOAD_LIMIT``, or
            ``LEGACY_PAYLOAD_LIMIT`` for older servers).
        keep_duplicates: a re-sent id is stored again and shows twice until `merge`
            (``True``, the service's behaviour); ``False`` replaces at once.
    """

    def __init__(
        self,
        store: WeaveStore,
        *,
        max_payload_bytes: int = CURRENT_PAYLOAD_LIMIT,
        keep_duplicates: bool = True,
    ) -> None:
        self.store = store
        self.max_payload_bytes = max_payload_bytes
        self.keep_duplicates = keep_duplicates
        self.rows: list[FeedbackRow] = []
        self.objects: dict[tuple[str, str], list[StoredObject]] = {}
        self._seq = 0
        self._by_ref: dict[str, list[FeedbackRow]] = {}

    # ------------------------------------------------------------------ objects

    def create_object(self, project_id: str, object_id: str, val: Any, user_id: str) -> str:
        """Store a version of an object; returns its digest (same value, same digest)."""
        if not object_id or "/" in object_id or ":" in object_id:
            raise EmulatorError.invalid(f"Invalid object id: {object_id!r}")
        digest = (
            base64.b32encode(
                hashlib.sha256(orjson.dumps(val, option=orjson.OPT_SORT_KEYS)).digest()
            )
            .decode("ascii")
            .lower()
            .rstrip("=")[:40]
        )
        versions = self.objects.setdefault((project_id, object_id), [])
        if not any(v.digest == digest for v in versions):
            versions.append(
                StoredObject(
                    project_id,
                    object_id,
                    digest,
                    val,
                    self.store.now_ms(),
                    len(versions),
                    user_id,
                )
            )
        return digest

    def read_object(self, project_id: str, object_id: str, digest: str) -> dict[str, Any]:
        """``/obj/read``: a version by digest (or ``latest``); 404 when missing."""
        versions = self.objects.get((project_id, object_id), [])
        for version in versions:
            if digest in (version.digest, "latest") and (
                digest != "latest" or version is versions[-1]
            ):
                return version.to_json(latest=version is versions[-1])
        raise EmulatorError.not_found(f"Obj {object_id}:{digest} not found")

    def resolve_ref(self, ref: str) -> StoredObject | None:
        """The object version a ``weave:///e/p/object/NAME:DIGEST`` ref names."""
        prefix = "weave:///"
        if not ref.startswith(prefix):
            return None
        parts = ref[len(prefix) :].split("/")
        if len(parts) != 4 or parts[2] != "object" or ":" not in parts[3]:
            return None
        name, _, digest = parts[3].partition(":")
        versions = self.objects.get((f"{parts[0]}/{parts[1]}", name), [])
        for version in versions:
            if version.digest == digest or (digest == "latest" and version is versions[-1]):
                return version
        return None

    def read_refs(self, refs: Sequence[str]) -> list[Any]:
        """``/refs/read_batch``: each ref's value, in order; a bad ref is a 400."""
        vals = []
        for ref in refs:
            found = self.resolve_ref(ref)
            if found is None:
                raise EmulatorError.invalid(f"Invalid ref or object not found: {ref}")
            vals.append(found.val)
        return vals

    def seed_spec(
        self,
        project_id: str,
        name: str,
        field_schema: Mapping[str, Any],
        *,
        description: str | None = None,
        user_id: str = "seed",
    ) -> str:
        """Create an AnnotationSpec object; returns its ref."""
        val = annotation_spec_val(name, field_schema, description=description)
        digest = self.create_object(project_id, name, val, user_id)
        return f"weave:///{project_id}/object/{name}:{digest}"

    # ------------------------------------------------------------------ feedback

    def check(self, request: Mapping[str, Any], user: User) -> None:
        """The service's refusals of one create request (400 ``InvalidRequest``)."""
        project_id = request["project_id"]
        feedback_type: str = request["feedback_type"]
        payload = request["payload"]
        size = len(json.dumps(payload))
        if size > self.max_payload_bytes:
            raise EmulatorError.invalid(
                f"Feedback payload too large: {size} bytes (limit {self.max_payload_bytes})"
            )
        weave_ref: str = request["weave_ref"]
        if not weave_ref.startswith(f"weave:///{project_id}/"):
            raise EmulatorError.invalid(f"weave_ref must be a ref in project {project_id}")
        annotation_ref = request.get("annotation_ref")
        if feedback_type.startswith(ANNOTATION_PREFIX):
            if not annotation_ref:
                raise EmulatorError.invalid("annotation_ref is required for annotation feedback")
            if any(request.get(name) for name in SCORER_FIELDS):
                raise EmulatorError.invalid("Scorer fields are not allowed on annotation feedback")
            spec = self.resolve_ref(annotation_ref)
            if spec is None or spec.project_id != project_id:
                raise EmulatorError.invalid(f"Annotation spec not found: {annotation_ref}")
            name = feedback_type[len(ANNOTATION_PREFIX) :]
            if name != spec.object_id:
                raise EmulatorError.invalid(
                    f"feedback_type {feedback_type!r} does not match annotation_ref "
                    f"name {spec.object_id!r}"
                )
            if not isinstance(payload, dict) or set(payload) != {"value"}:
                raise EmulatorError.invalid('Annotation payload must be {"value": ...}')
            schema = spec.val.get("field_schema", {}) if isinstance(spec.val, dict) else {}
            try:
                check_value(payload["value"], schema)
            except SchemaProblem as problem:
                raise EmulatorError.invalid(
                    f"Feedback payload does not match the annotation spec's schema: {problem}"
                ) from None
        elif feedback_type.startswith("wandb."):
            raise EmulatorError.invalid(f"feedback_type {feedback_type!r} is reserved")
        elif annotation_ref:
            raise EmulatorError.invalid(
                "annotation_ref is only allowed with feedback_type 'wandb.annotation.<name>'"
            )

    def create(self, requests: Sequence[Mapping[str, Any]], user: User) -> list[FeedbackRow]:
        """Check every request, then write them all; returns the stored rows."""
        for request in requests:
            self.check(request, user)
        now = self.store.now_ms()
        written = []
        for request in requests:
            self._seq += 1
            row = FeedbackRow(
                id=request.get("id") or self.store.new_id(now),
                project_id=request["project_id"],
                weave_ref=request["weave_ref"],
                wb_user_id=user.user_id,
                feedback_type=request["feedback_type"],
                payload=request["payload"],
                created_at=now,
                creator=request.get("creator"),
                queue_id=request.get("queue_id"),
                seq=self._seq,
                **{name: request.get(name) for name in _OPTIONAL_REFS},
            )
            if not self.keep_duplicates:
                self._drop_copies(row)
            self.rows.append(row)
            self._by_ref.setdefault(row.weave_ref, []).append(row)
            written.append(row)
        return written

    def _drop_copies(self, row: FeedbackRow) -> None:
        key = _key(row)
        same_call = self._by_ref.get(row.weave_ref, [])
        if any(_key(r) == key for r in same_call):
            self.rows = [r for r in self.rows if _key(r) != key]
            self._by_ref[row.weave_ref] = [r for r in same_call if _key(r) != key]

    def _reindex(self) -> None:
        self._by_ref = {}
        for row in self.rows:
            self._by_ref.setdefault(row.weave_ref, []).append(row)

    def merge(self) -> int:
        """What a background merge does: keep the latest copy of each key; returns how
        many copies were removed."""
        latest: dict[tuple[str, str, str, str], FeedbackRow] = {}
        for row in self.rows:
            latest[_key(row)] = row
        removed = len(self.rows) - len(latest)
        self.rows = sorted(latest.values(), key=lambda r: r.seq)
        self._reindex()
        return removed

    def add_annotation(
        self,
        project_id: str,
        call_id: str,
        spec_ref: str,
        value: Any,
        *,
        user_id: str,
        queue_id: str | None = None,
        feedback_id: str | None = None,
    ) -> FeedbackRow:
        """Write one human annotation as ``user_id`` under the service's rules."""
        spec = self.resolve_ref(spec_ref)
        name = spec.object_id if spec is not None else spec_ref
        user = self.store.users.get(user_id) or User(user_id, "")
        request = {
            "project_id": project_id,
            "weave_ref": f"weave:///{project_id}/call/{call_id}",
            "feedback_type": ANNOTATION_PREFIX + name,
            "payload": {"value": value},
            "annotation_ref": spec_ref,
            "queue_id": queue_id,
            "id": feedback_id,
        }
        [row] = self.create([request], user)
        return row

    def query(
        self,
        project_id: str,
        *,
        query: Any = None,
        sort_by: Sequence[tuple[str, str]] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        fields: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """``/feedback/query``: the matching rows (every stored copy)."""
        expr = None
        if query is not None:
            if not isinstance(query, dict) or set(query) != {"$expr"}:
                raise EmulatorError.invalid('query must be {"$expr": ...}')
            expr = query["$expr"]
        refs = _indexed_refs(expr)
        if refs is None:
            candidates: Iterable[FeedbackRow] = self.rows
        else:
            found = [row for ref in dict.fromkeys(refs) for row in self._by_ref.get(ref, ())]
            candidates = sorted(found, key=lambda r: r.seq)
        rows = [r for r in candidates if r.project_id == project_id]
        if expr is not None:
            predicate = _compile(expr)
            rows = [r for r in rows if _truthy(predicate(r))]
        if sort_by:
            for field, direction in reversed(sort_by):
                rows.sort(
                    key=lambda r, f=field: _sort_key(_field(r, f)),  # type: ignore[misc]
                    reverse=direction == "desc",
                )
        else:
            # No order is promised: show rows in an order unrelated to time.
            rows.sort(key=lambda r: hashlib.blake2b(f"{r.id}/{r.seq}".encode()).digest())
        start = offset or 0
        rows = rows[start:] if limit is None else rows[start : start + limit]
        if fields is None:
            return [r.to_json() for r in rows]
        return [_project(r, fields) for r in rows]


def _literal_refs(node: Any) -> list[str] | None:
    # {"$eq": [{"$getField": "weave_ref"}, {"$literal": R}]} or the $in form.
    if not isinstance(node, dict) or len(node) != 1:
        return None
    [(op, arg)] = node.items()
    if op not in ("$eq", "$in") or not isinstance(arg, list) or len(arg) != 2:
        return None
    field, other = arg
    if field != {"$getField": "weave_ref"}:
        return None
    options = [other] if op == "$eq" else other
    if not isinstance(options, list):
        return None
    refs = []
    for option in options:
        if not isinstance(option, dict) or not isinstance(option.get("$literal"), str):
            return None
        refs.append(option["$literal"])
    return refs


def _indexed_refs(expr: Any) -> list[str] | None:
    """The weave_refs a query is limited to, when it says so at its top (an index
    lookup instead of a scan; the answer is the same)."""
    direct = _literal_refs(expr)
    if direct is not None:
        return direct
    if isinstance(expr, dict) and isinstance(expr.get("$and"), list) and len(expr) == 1:
        for term in expr["$and"]:
            found = _literal_refs(term)
            if found is not None:
                return found
    return None


def _key(row: FeedbackRow) -> tuple[str, str, str, str]:
    return (row.project_id, row.weave_ref, row.wb_user_id, row.id)


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, value)
    return (2, str(value))


def _field(row: FeedbackRow, path: str, *, for_filter: bool = False) -> Any:
    head, _, rest = path.partition(".")
    if head == "wb_user_id" and for_filter:
        return _stored_user_id(row.wb_user_id)
    if head == "created_at":
        return format_ms(row.created_at)
    if head not in attrs.fields_dict(FeedbackRow) or head == "seq":
        return None
    value = getattr(row, head)
    for part in rest.split(".") if rest else ():
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _project(row: FeedbackRow, fields: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in fields:
        value = _field(row, name)
        if "." in name and not isinstance(value, str | type(None)):
            value = json.dumps(value)  # a nested selection comes back as text
        out[name] = value
    return out


def _truthy(value: Any) -> bool:
    return value is True


_COMPARE: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}


def _operands(node: Mapping[str, Any], op: str, count: int | None = None) -> list[Any]:
    operands = node[op]
    if not isinstance(operands, list) or (count is not None and len(operands) != count):
        raise EmulatorError.invalid(f"{op} takes a list of {count or 'some'} operands")
    return operands


Compiled = Callable[[FeedbackRow], Any]


def _compile(node: Any) -> Compiled:
    """An expression as a function of a row, built once per query."""
    if not isinstance(node, dict) or len(node) != 1:
        raise EmulatorError.invalid(f"Invalid query expression: {str(node)[:60]}")
    [(op, arg)] = node.items()
    if op == "$literal":
        return lambda _row: arg
    if op == "$getField":
        if not isinstance(arg, str):
            raise EmulatorError.invalid("$getField takes a field name")
        return lambda row: _field(row, arg, for_filter=True)
    if op in ("$and", "$or"):
        parts = [_compile(sub) for sub in _operands(node, op)]
        if op == "$and":
            return lambda row: all(_truthy(part(row)) for part in parts)
        return lambda row: any(_truthy(part(row)) for part in parts)
    if op == "$not":
        inner = _compile(_operands(node, op, 1)[0])
        return lambda row: not _truthy(inner(row))
    if op == "$eq":
        left, right = (_compile(sub) for sub in _operands(node, op, 2))
        return lambda row: left(row) == right(row)
    if op in _COMPARE:
        left, right = (_compile(sub) for sub in _operands(node, op, 2))
        compare = _COMPARE[op]

        def ordered(row: FeedbackRow) -> bool:
            a, b = left(row), right(row)
            try:
                return a is not None and b is not None and bool(compare(a, b))
            except TypeError:
                return False

        return ordered
    if op == "$in":
        left_node, options = _operands(node, op, 2)
        if not isinstance(options, list):
            raise EmulatorError.invalid("$in takes [expression, [expressions]]")
        subject = _compile(left_node)
        if all(isinstance(o, dict) and set(o) == {"$literal"} for o in options):
            literals = [o["$literal"] for o in options]
            try:
                fixed = frozenset(literals)
            except TypeError:
                return lambda row: subject(row) in literals
            return lambda row: _hashable_in(subject(row), fixed)
        compiled = [_compile(o) for o in options]
        return lambda row: any(subject(row) == option(row) for option in compiled)
    if op == "$contains":
        if not isinstance(arg, dict):
            raise EmulatorError.invalid("$contains takes {input, substr}")
        text_of, substr_of = _compile(arg.get("input")), _compile(arg.get("substr"))
        fold = bool(arg.get("case_insensitive"))

        def contains(row: FeedbackRow) -> bool:
            text, substr = text_of(row), substr_of(row)
            if not isinstance(text, str) or not isinstance(substr, str):
                return False
            return substr.lower() in text.lower() if fold else substr in text

        return contains
    if op == "$convert":
        if not isinstance(arg, dict):
            raise EmulatorError.invalid("$convert takes {input, to}")
        value_of, target = _compile(arg.get("input")), arg.get("to")

        def convert(row: FeedbackRow) -> Any:
            value = value_of(row)
            try:
                if target == "string":
                    return value if isinstance(value, str) else json.dumps(value)
                if target in ("int", "double"):
                    return int(value) if target == "int" else float(value)
                if target == "bool":
                    return bool(value)
            except (TypeError, ValueError):
                return None
            return value

        return convert
    raise EmulatorError.invalid(f"Unsupported query operator {op}")


def _hashable_in(value: Any, options: frozenset[Any]) -> bool:
    try:
        return value in options
    except TypeError:
        return False


# ---------------------------------------------------------------------- HTTP


class FeedbackService:
    """The HTTP routes of a `FeedbackStore`; uses the queue service's helpers for
    authentication, body parsing and error bodies."""

    def __init__(self, feedback: FeedbackStore, service: Any) -> None:
        self.feedback = feedback
        self.service = service  # a WeaveService: user_of, check_project, error bodies

    async def _run(self, request: web.Request, work: Any) -> web.StreamResponse:
        try:
            user = self.service.user_of(request)
            body = parse_body(await request.read())
            if not isinstance(body, dict):
                raise ValidationFailed(
                    [{"type": "dict_type", "loc": ["body"], "msg": "Input should be an object"}]
                )
            return json_response(work(user, body))
        except HttpError as exc:
            return json_response(exc.body, exc.status, exc.headers)
        except ValidationFailed as exc:
            return json_response({"detail": exc.errors}, 422)
        except EmulatorError as exc:
            return json_response(self.service.error_body(exc.reason, exc.error_type), exc.status)

    def _create_request(self, user: User, entry: Any, loc: tuple[Any, ...]) -> dict[str, Any]:
        if not isinstance(entry, dict):
            raise ValidationFailed([error("dict_type", loc, "Input should be an object", entry)])
        problems = []
        for name in ("project_id", "weave_ref", "feedback_type"):
            if not isinstance(entry.get(name), str):
                kind = "missing" if entry.get(name) is None else "string_type"
                problems.append(error(kind, (*loc, name), "Field required", entry.get(name)))
        if not isinstance(entry.get("payload"), dict):
            problems.append(
                error("dict_type", (*loc, "payload"), "Input should be an object", None)
            )
        for name in ("id", "queue_id", "creator", *_OPTIONAL_REFS):
            if entry.get(name) is not None and not isinstance(entry[name], str):
                problems.append(
                    error("string_type", (*loc, name), "Input should be a string", entry[name])
                )
        if problems:
            raise ValidationFailed(problems)
        self.service.check_project(user, entry["project_id"])
        return entry

    async def create(self, request: web.Request) -> web.StreamResponse:
        """``POST /feedback/create``."""

        def work(user: User, body: dict[str, Any]) -> Any:
            entry = self._create_request(user, body, ("body",))
            [row] = self.feedback.create([entry], user)
            return _answer(row)

        return await self._run(request, work)

    async def batch_create(self, request: web.Request) -> web.StreamResponse:
        """``POST /feedback/batch/create``: all rows checked before any is written."""

        def work(user: User, body: dict[str, Any]) -> Any:
            batch = body.get("batch")
            if not isinstance(batch, list):
                raise ValidationFailed(
                    [error("list_type", ("body", "batch"), "Input should be a valid list", batch)]
                )
            entries = [
                self._create_request(user, entry, ("body", "batch", i))
                for i, entry in enumerate(batch)
            ]
            return {"res": [_answer(row) for row in self.feedback.create(entries, user)]}

        return await self._run(request, work)

    async def query(self, request: web.Request) -> web.StreamResponse:
        """``POST /feedback/query``."""

        def work(user: User, body: dict[str, Any]) -> Any:
            project_id = body.get("project_id")
            if not isinstance(project_id, str):
                raise ValidationFailed(
                    [error("missing", ("body", "project_id"), "Field required", None)]
                )
            self.service.check_project(user, project_id)
            sort = []
            for entry in body.get("sort_by") or ():
                if not isinstance(entry, dict) or entry.get("direction") not in ("asc", "desc"):
                    raise ValidationFailed(
                        [error("literal_error", ("body", "sort_by"), "Invalid sort", entry)]
                    )
                sort.append((str(entry.get("field")), str(entry["direction"])))
            for name in ("limit", "offset"):
                value = body.get(name)
                if value is not None and (not isinstance(value, int) or value < 0):
                    raise ValidationFailed(
                        [error("int_type", ("body", name), "Input should be an integer", value)]
                    )
            fields = body.get("fields")
            result = self.feedback.query(
                project_id,
                query=body.get("query"),
                sort_by=sort,
                limit=body.get("limit"),
                offset=body.get("offset"),
                fields=fields if isinstance(fields, list) else None,
            )
            return {"result": result, "total_count": len(result)}

        return await self._run(request, work)

    async def obj_create(self, request: web.Request) -> web.StreamResponse:
        """``POST /obj/create`` ``{obj: {project_id, object_id, val}}``."""

        def work(user: User, body: dict[str, Any]) -> Any:
            obj = body.get("obj")
            if not isinstance(obj, dict) or not all(
                isinstance(obj.get(k), str) for k in ("project_id", "object_id")
            ):
                raise ValidationFailed([error("missing", ("body", "obj"), "Field required", obj)])
            self.service.check_project(user, obj["project_id"])
            digest = self.feedback.create_object(
                obj["project_id"], obj["object_id"], obj.get("val"), user.user_id
            )
            return {"digest": digest, "object_id": obj["object_id"]}

        return await self._run(request, work)

    async def obj_read(self, request: web.Request) -> web.StreamResponse:
        """``POST /obj/read`` ``{project_id, object_id, digest}``."""

        def work(user: User, body: dict[str, Any]) -> Any:
            names = ("project_id", "object_id", "digest")
            missing = [n for n in names if not isinstance(body.get(n), str)]
            if missing:
                raise ValidationFailed(
                    [error("missing", ("body", n), "Field required", None) for n in missing]
                )
            self.service.check_project(user, body["project_id"])
            return {
                "obj": self.feedback.read_object(
                    body["project_id"], body["object_id"], body["digest"]
                )
            }

        return await self._run(request, work)

    async def refs_read_batch(self, request: web.Request) -> web.StreamResponse:
        """``POST /refs/read_batch`` ``{refs: [...]}`` -> ``{vals: [...]}``."""

        def work(user: User, body: dict[str, Any]) -> Any:
            refs = body.get("refs")
            if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
                raise ValidationFailed(
                    [error("list_type", ("body", "refs"), "Input should be a valid list", refs)]
                )
            for ref in refs:
                parts = ref.removeprefix("weave:///").split("/")
                if len(parts) >= 2:
                    self.service.check_project(user, f"{parts[0]}/{parts[1]}")
            return {"vals": self.feedback.read_refs(refs)}

        return await self._run(request, work)

    def add_routes(self, app: web.Application) -> None:
        """Register the routes, named as in `FEEDBACK_ROUTE_NAMES`."""
        router = app.router
        router.add_post("/feedback/create", self.create, name="weave.feedback_create")
        router.add_post(
            "/feedback/batch/create", self.batch_create, name="weave.feedback_batch_create"
        )
        router.add_post("/feedback/query", self.query, name="weave.feedback_query")
        router.add_post("/obj/create", self.obj_create, name="weave.obj_create")
        router.add_post("/obj/read", self.obj_read, name="weave.obj_read")
        router.add_post("/refs/read_batch", self.refs_read_batch, name="weave.refs_read_batch")


def _answer(row: FeedbackRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "created_at": format_ms(row.created_at),
        "wb_user_id": row.wb_user_id,
        "payload": row.payload,
    }


class FeedbackState:
    """In-process access to feedback and specs, reached as ``emu.feedback``.

    Example::

        refs = emu.feedback.seed_specs({"quality": {"type": "integer", "minimum": 1,
                                                    "maximum": 5}})
        queue_id = emu.weave.seed_queue(100, scorer_refs=list(refs.values()))
        emu.feedback.seed_annotations(queue_id, annotators=["ann-1", "ann-2"])
        emu.feedback.max_payload_bytes = LEGACY_PAYLOAD_LIMIT   # an older server
        emu.feedback.merge()                                    # a background merge
    """

    def __init__(self, feedback: FeedbackStore, store: WeaveStore, project: str) -> None:
        self.store = feedback
        self._weave = store
        self.project = project

    @property
    def max_payload_bytes(self) -> int:
        """The payload cap (1 MiB today, 1,024 on older servers)."""
        return self.store.max_payload_bytes

    @max_payload_bytes.setter
    def max_payload_bytes(self, value: int) -> None:
        self.store.max_payload_bytes = value

    @property
    def keep_duplicates(self) -> bool:
        """Whether a re-sent id shows twice until `merge` (the service's behaviour)."""
        return self.store.keep_duplicates

    @keep_duplicates.setter
    def keep_duplicates(self, value: bool) -> None:
        self.store.keep_duplicates = value

    def seed_spec(
        self, name: str, field_schema: Mapping[str, Any], *, project: str | None = None
    ) -> str:
        """Create one AnnotationSpec; returns its ref."""
        return self.store.seed_spec(project or self.project, name, field_schema)

    def seed_specs(
        self, specs: Mapping[str, Mapping[str, Any]], *, project: str | None = None
    ) -> dict[str, str]:
        """Create AnnotationSpecs ``{name: field_schema}``; returns ``{name: ref}``."""
        return {
            name: self.seed_spec(name, schema, project=project) for name, schema in specs.items()
        }

    def seed_annotated_queue(
        self,
        n_items: int,
        specs: Mapping[str, Mapping[str, Any]],
        *,
        annotators: Sequence[str] = ("annotator-1", "annotator-2", "annotator-3"),
        fraction: float = 1.0,
        complete: bool = True,
        project: str | None = None,
        name: str = "annotated queue",
    ) -> tuple[str, dict[str, str]]:
        """A queue with specs and annotations by several annotators.

        Returns ``(queue_id, {spec name: ref})``. See `seed_annotations`.
        """
        refs = self.seed_specs(specs, project=project)
        queue = self._weave.create_queue(
            project or self.project,
            name=name,
            description="",
            scorer_refs=list(refs.values()),
            created_by="seed",
        )
        project_id = project or self.project
        calls = self._weave.create_calls(project_id, n_items)
        self._weave.add_calls(
            project_id, queue.id, [c.id for c in calls], display_fields=["inputs"], added_by="seed"
        )
        self.seed_annotations(
            queue.id, annotators=annotators, fraction=fraction, complete=complete, project=project
        )
        return queue.id, refs

    def seed_annotations(
        self,
        queue_id: str,
        *,
        annotators: Sequence[str] = ("annotator-1", "annotator-2", "annotator-3"),
        fraction: float = 1.0,
        complete: bool = True,
        project: str | None = None,
    ) -> int:
        """Each annotator answers every spec of the queue on about ``fraction`` of its
        items (a value drawn to fit the spec), then, with ``complete``, completes them.
        Returns how many feedback rows were written."""
        project_id = project or self.project
        queue = self._weave.queues[queue_id]
        rng = self._weave.rng
        written = 0
        specs = [self.store.resolve_ref(ref) for ref in queue.scorer_refs]
        for item in list(self._weave.live_items(project_id, queue_id)):
            for annotator in annotators:
                if rng.random() >= fraction:
                    continue
                for spec in specs:
                    if spec is None:
                        continue
                    value = sample_value(spec.val.get("field_schema", {}), rng)
                    self.store.add_annotation(
                        project_id,
                        item.call_id,
                        spec.ref,
                        value,
                        user_id=annotator,
                        queue_id=queue_id,
                    )
                    written += 1
                if complete:
                    self._weave.update_progress(
                        project_id, queue_id, item.id, "completed", annotator
                    )
        return written

    def add_annotation(
        self,
        queue_id: str,
        item_id: str,
        spec_ref: str,
        value: Any,
        *,
        user_id: str,
        project: str | None = None,
        feedback_id: str | None = None,
    ) -> dict[str, Any]:
        """Annotate one item as ``user_id`` (as another annotator would); returns the
        row's JSON. Raises `EmulatorError` where the endpoint would answer 400."""
        project_id = project or self.project
        item = self._weave.find_item(project_id, item_id)
        if item is None:
            raise KeyError(item_id)
        return self.store.add_annotation(
            project_id,
            item.call_id,
            spec_ref,
            value,
            user_id=user_id,
            queue_id=queue_id,
            feedback_id=feedback_id,
        ).to_json()

    def rows(
        self,
        *,
        queue_id: str | None = None,
        user_id: str | None = None,
        weave_ref: str | None = None,
        merged: bool = False,
    ) -> list[dict[str, Any]]:
        """Stored rows (every copy; ``merged=True``: as after a merge), filtered."""
        rows: Iterable[FeedbackRow] = self.store.rows
        if merged:
            latest: dict[tuple[str, str, str, str], FeedbackRow] = {}
            for row in rows:
                latest[_key(row)] = row
            rows = sorted(latest.values(), key=lambda r: r.seq)
        return [
            r.to_json()
            for r in rows
            if (queue_id is None or r.queue_id == queue_id)
            and (user_id is None or r.wb_user_id == user_id)
            and (weave_ref is None or r.weave_ref == weave_ref)
        ]

    def merge(self) -> int:
        """Run a background merge now; returns how many duplicate copies went."""
        return self.store.merge()


def sample_value(schema: Mapping[str, Any], rng: Any) -> Any:
    """A value that fits a simple field schema (for seeding)."""
    if "enum" in schema:
        return rng.choice(list(schema["enum"]))
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "integer":
        return rng.randint(int(schema.get("minimum", 0)), int(schema.get("maximum", 10)))
    if kind == "number":
        low, high = float(schema.get("minimum", 0)), float(schema.get("maximum", 1))
        return round(rng.uniform(low, high), 3)
    if kind == "string":
        length = min(int(schema.get("maxLength", 12)), 12)
        return "".join(rng.choice("abcdefghij") for _ in range(max(length, 1)))
    return None
