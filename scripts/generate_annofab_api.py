"""Write ``src/annoq/annofab/_api.py``: the whole Annofab Web API as async methods.

It also writes ``docs/annofab-seed-methods.md``, the table of the official client's
methods (``seed-methods.json``) and the annoq call that does each.

The input is the published spec as JSON facts in ``tests/contract/annofab/``
(``annofab-v1.operations.json``, ``annofab-v2.operations.json``, ``annofab-v1.schemas.json``).
Each operation becomes one coroutine named as the official client names it (snake_case of
the operation id; v2 ids end in ``V2`` so their names end in ``_v2``): path parameters
positional in path order, then keyword ``query_params=`` (a TypedDict of the spec's names
and types) and ``request_body=`` where the operation has them.

The retry class of every operation is derived here (see ``retry_class`` and the table
``RETRY_DECISIONS``): a new POST in the spec that the rules cannot place stops the generator
until someone decides.

    python scripts/generate_annofab_api.py            # rewrite the module
    python scripts/generate_annofab_api.py --check    # exit 1 if it is out of date
    python scripts/generate_annofab_api.py --output DIR

The output is deterministic (same facts, same bytes) and formatted as ``ruff format``
leaves it.
"""

from __future__ import annotations

import argparse
import json
import keyword
import re
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FACTS = ROOT / "tests" / "contract" / "annofab"
TARGET = ROOT / "src" / "annoq" / "annofab" / "_api.py"
DOCS = ROOT / "docs" / "annofab-seed-methods.md"
WIDTH = 100

# ---------------------------------------------------------------------- retry safety

#: Per-operation decisions where the rules below cannot tell from the spec alone.
#: "safe": a repeat cannot apply twice; "unsafe": never re-sent once it may have
#: reached the server; "assign" / "input-zip": decided per request from the body.
RETRY_DECISIONS: dict[str, tuple[str, str]] = {
    # the login family: a repeat issues another token or reads again, nothing accrues
    "login": ("safe", "a repeat only issues another token"),
    "logout": ("safe", "revoking a token twice is revoking it"),
    "loginRespondToAuthChallenge": ("safe", "a repeat answers the same challenge"),
    "refreshToken": ("safe", "a repeat only issues another token"),
    "requestPluginToken": ("safe", "a repeat only issues another token"),
    "listProjectToken": ("safe", "a read sent as POST"),
    "revokeProjectToken": ("safe", "revoking twice is revoking"),
    "issueProjectToken": ("unsafe", "each call issues one more project token"),
    "issueProjectGuestUserToken": ("unsafe", "each call issues one more guest token"),
    "issuePersonalAccessToken": ("unsafe", "each call issues one more personal token"),
    "revokePersonalAccessToken": ("safe", "revoking twice is revoking"),
    # creation keyed by a name or id the client chooses: a repeat gets 409
    "createNewOrganization": ("safe", "keyed by the organization name the client chooses"),
    "inviteOrganizationMember": ("safe", "keyed by the user id in the path"),
    "acceptOrganizationInvitation": ("safe", "keyed by the user id in the path"),
    # batches of Put/Delete items naming their ids (or carrying their locks)
    "batchUpdateTasks": ("safe", "items name their task ids"),
    "batchUpdateInputs": ("safe", "items name their input data ids"),
    "batchUpdateAnnotations": ("safe", "items name their annotation ids"),
    "batchUpdateComments": ("safe", "items name their comment ids"),
    "batchUpdateInspections": ("safe", "items name their inspection ids"),
    "operateTask": ("safe", "optimistic lock: last_updated_datetime"),
    "createTempPath": ("safe", "a repeat only makes another unused upload path"),
    # the ones that apply twice
    "assignTasks": ("assign", "Random and TaskProperty let the server pick more tasks"),
    "putInputData": ("input-zip", "a ZIP starts a gen-inputs job and ignores the path id"),
    "testWebhook": ("unsafe", "each call sends the webhook once more"),
    "initiateProjectCopy": ("unsafe", "each call starts one more copy-project job"),
    "initiateTasksGeneration": ("unsafe", "each call starts one more gen-tasks job"),
    "postProjectInputsUpdate": ("unsafe", "each call starts one more gen-inputs-list job"),
    "postProjectTasksUpdate": ("unsafe", "each call starts one more gen-tasks-list job"),
    "postAnnotationArchiveUpdate": ("unsafe", "each call starts one more gen-annotation job"),
}

_IDEMPOTENT_METHODS = frozenset({"GET", "PUT", "DELETE", "PATCH"})


def retry_class(op: Mapping[str, Any]) -> tuple[str, str]:
    """``(class, why)`` of one operation: the table first, then the spec's method and
    answers. GET, PUT, DELETE and PATCH name their resource (path ids the client chose,
    or a lock in the body) and are safe; a POST answering 202 starts a job and is unsafe;
    any other POST must be in the table."""
    decision = RETRY_DECISIONS.get(op["operation_id"])
    if decision is not None:
        return decision
    if op["method"] in _IDEMPOTENT_METHODS:
        return "safe", "names its resource"
    if "202" in op["responses"]:
        return "unsafe", "starts a job"
    raise SystemExit(
        f"{op['operation_id']} ({op['method']} {op['path']}): decide its retry class in "
        "RETRY_DECISIONS"
    )


# ---------------------------------------------------------------------- spec reading


def snake(operation_id: str) -> str:
    """``getInputDataList`` -> ``get_input_data_list`` (as the official client names it)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()


def pascal(operation_id: str) -> str:
    return operation_id[0].upper() + operation_id[1:]


def constant(operation_id: str) -> str:
    return "_" + snake(operation_id).upper()


class Spec:
    def __init__(self, schemas: Mapping[str, Any]) -> None:
        self.schemas = schemas
        self.aliases: dict[str, tuple[str, ...]] = {}  # enum schema name -> values

    def resolve(self, schema: Any) -> dict[str, Any]:
        if isinstance(schema, str):
            schema = {"$ref": schema}
        seen = 0
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"]]
            seen += 1
            if seen > 20:
                raise SystemExit(f"$ref loop at {schema}")
        return dict(schema)

    def kind(self, schema: Any) -> str:
        """object, array or any: what a body or answer is at the top."""
        resolved = self.resolve(schema)
        if resolved.get("type") in ("object", "array"):
            return str(resolved["type"])
        parts = resolved.get("oneOf") or resolved.get("allOf") or resolved.get("anyOf")
        if parts:
            kinds = {self.kind(p) for p in parts}
            if len(kinds) == 1:
                return kinds.pop()
        return "any"

    def enum_name(self, schema: Any) -> str | None:
        """The alias name of an enum schema reached by ``$ref`` (registered on use)."""
        if not isinstance(schema, dict) or "$ref" not in schema:
            return None
        name = schema["$ref"]
        resolved = self.resolve(schema)
        if "enum" not in resolved:
            return None
        self.aliases[name] = tuple(str(v) for v in resolved["enum"])
        return str(name)


def tuple_expr(items: list[str]) -> str:
    """A tuple literal: the comma of a single item is not a magic trailing comma."""
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def literal(values: Iterable[str]) -> str:
    return "Literal[" + ", ".join(json.dumps(v) for v in values) + "]"


class QueryParam:
    def __init__(self, raw: Mapping[str, Any], spec: Spec) -> None:
        self.name: str = raw["name"]
        self.required: bool = bool(raw.get("required"))
        schema = raw["schema"]
        resolved = spec.resolve(schema)
        kind = resolved.get("type", "string")
        self.enum_alias = spec.enum_name(schema)
        self.enum: tuple[str, ...] = tuple(str(v) for v in resolved.get("enum", ()))
        if kind == "array":
            items = spec.resolve(resolved["items"])
            if items.get("type") != "string" or raw.get("explode", True) is not False:
                raise SystemExit(f"unsupported array parameter {raw}")
            self.type = "str | Sequence[str]"
        elif kind == "integer":
            self.type = "int"
        elif kind == "boolean":
            self.type = "bool"
        elif kind == "string":
            if self.enum:
                self.type = self.enum_alias or literal(self.enum)
            else:
                self.type = "str"
        else:
            raise SystemExit(f"unsupported parameter kind {kind} in {raw}")
        self.kind = kind
        self.minimum = resolved.get("minimum")
        self.maximum = resolved.get("maximum")
        self.min_items = resolved.get("minItems")
        self.max_items = resolved.get("maxItems")

    def param_expr(self) -> str:
        args = [json.dumps(self.name), json.dumps(self.kind)]
        if self.required:
            args.append("required=True")
        if self.enum:
            if self.enum_alias:
                args.append(f"enum=get_args({self.enum_alias})")
            else:
                args.append("enum=" + tuple_expr([json.dumps(v) for v in self.enum]))
        for key, value in (
            ("minimum", self.minimum),
            ("maximum", self.maximum),
            ("min_items", self.min_items),
            ("max_items", self.max_items),
        ):
            if value is not None:
                args.append(f"{key}={int(value)}")
        return "Param(" + ", ".join(args) + ")"


class Op:
    def __init__(self, raw: Mapping[str, Any], spec: Spec, base: str) -> None:
        self.id: str = raw["operation_id"]
        self.method: str = raw["method"]
        self.path: str = raw["path"]
        self.base = base
        self.deprecated = bool(raw.get("deprecated"))
        self.name = snake(self.id)
        if keyword.iskeyword(self.name):
            raise SystemExit(f"operation name {self.name} is a Python keyword")
        self.authenticated = bool(raw.get("security"))
        names_in_path = re.findall(r"\{(\w+)\}", self.path)
        declared = [p["name"] for p in raw["parameters"] if p["in"] == "path"]
        if sorted(names_in_path) != sorted(declared):
            raise SystemExit(f"{self.id}: path parameters {names_in_path} vs {declared}")
        self.path_params = names_in_path  # in path order, as the official client takes them
        for name in self.path_params:
            if keyword.iskeyword(name) or name in ("self", "query_params", "request_body"):
                raise SystemExit(f"{self.id}: path parameter {name} cannot be an argument")
        self.query = [QueryParam(p, spec) for p in raw["parameters"] if p["in"] == "query"]
        others = [p for p in raw["parameters"] if p["in"] not in ("path", "query")]
        if others:
            raise SystemExit(f"{self.id}: unsupported parameters {others}")
        body = raw.get("request_body")
        self.body_kind: str | None = None
        self.body_required = False
        if body:
            if body.get("mime") != "application/json":
                raise SystemExit(f"{self.id}: unsupported request body {body}")
            self.body_kind = spec.kind(body["schema"])
            self.body_required = bool(body.get("required"))
        self.answer = self._answer(raw["responses"], spec)
        self.retry, self.retry_why = retry_class(raw)

    def _answer(self, responses: Mapping[str, Any], spec: Spec) -> str:
        kinds = set()
        for status, response in sorted(responses.items()):
            if not status.startswith("2"):
                continue
            mime = response.get("mime")
            if mime is None:
                kinds.add("none")
            elif mime == "application/json":
                kinds.add(spec.kind(response["schema"]) if response.get("schema") else "any")
            else:
                kinds.add("bytes")
        if len(kinds) != 1:
            if "bytes" in kinds or "none" in kinds:
                raise SystemExit(f"{self.id}: answers of different kinds {sorted(kinds)}")
            return "json"  # an object on one status, an array on another
        kind = kinds.pop()
        return {"any": "json"}.get(kind, kind)

    @property
    def query_type(self) -> str:
        return pascal(self.id) + "QueryParams"

    @property
    def returns(self) -> tuple[str, str]:
        """(annotation, runtime helper)."""
        return {
            "object": ("dict[str, Any]", "call_object"),
            "array": ("list[Any]", "call_array"),
            "json": ("Any", "call_json"),
            "bytes": ("bytes", "call_bytes"),
            "none": ("None", "call_none"),
        }[self.answer]

    @property
    def body_type(self) -> str:
        return {"object": "Mapping[str, Any]", "array": "Sequence[Any]"}.get(
            self.body_kind or "", "Any"
        )


# ---------------------------------------------------------------------- rendering


def exploded(head: str, items: list[str], tail: str, indent: str) -> list[str]:
    """``head(`` items one per line with a trailing comma ``)tail`` (ruff keeps it so)."""
    inner = indent + "    "
    return [indent + head, *(inner + item + "," for item in items), indent + tail]


def call_lines(head: str, items: list[str], tail: str, indent: str) -> list[str]:
    """One line when it fits (and has no items needing a split), else exploded."""
    line = indent + head + ", ".join(items) + tail
    if len(line) <= WIDTH:
        return [line]
    return exploded(head, items, tail, indent)


def render_alias(name: str, values: tuple[str, ...]) -> list[str]:
    line = f"{name} = {literal(values)}"
    if len(line) <= WIDTH:
        return [line]
    return exploded(f"{name} = Literal[", [json.dumps(v) for v in values], "]", "")


def render_typeddict(op: Op) -> list[str]:
    fields = []
    for q in op.query:
        kind = f"Required[{q.type}]" if q.required else q.type
        fields.append(f"{json.dumps(q.name)}: {kind}")
    if all(q.name.isidentifier() and not keyword.iskeyword(q.name) for q in op.query):
        lines = [f"class {op.query_type}(TypedDict, total=False):"]
        for q in op.query:
            kind = f"Required[{q.type}]" if q.required else q.type
            lines.append(f"    {q.name}: {kind}")
        return lines
    lines = [f"{op.query_type} = TypedDict(", f"    {json.dumps(op.query_type)},"]
    lines += exploded("{", fields, "},", "    ")
    lines += ["    total=False,", ")"]
    return lines


def render_operation(op: Op) -> list[str]:
    items = [json.dumps(op.id), json.dumps(op.method), json.dumps(op.path)]
    if op.base != "/api/v1":
        items.append(f"base={json.dumps(op.base)}")
    if op.path_params:
        items.append("path_params=" + tuple_expr([json.dumps(p) for p in op.path_params]))
    lines_query: list[str] = []
    if op.query:
        params = [q.param_expr() for q in op.query]
        single = f"    query=({params[0]},),"
        if len(params) == 1 and len(single) <= WIDTH:
            lines_query = [single]
        else:
            lines_query = exploded("query=(", params, "),", "    ")
    tail_items = []
    if op.body_kind is not None:
        tail_items.append(f"body={json.dumps(op.body_kind)}")
        if op.body_required:
            tail_items.append("body_required=True")
    if op.answer != "json":
        tail_items.append(f"answer={json.dumps(op.answer)}")
    if not op.authenticated:
        tail_items.append("authenticated=False")
    if op.retry != "safe":
        tail_items.append(f"retry={json.dumps(op.retry)}")
    lines = [f"{constant(op.id)} = Operation("]
    for item in items:
        text = "    " + item + ","
        if len(text) > WIDTH:
            raise SystemExit(f"line too long: {text}")
        lines.append(text)
    for line in lines_query:
        if len(line) > WIDTH:
            raise SystemExit(f"line too long: {line}")
    lines += lines_query
    lines += ["    " + t + "," for t in tail_items]
    lines.append(")")
    return lines


def docstring(op: Op, indent: str) -> list[str]:
    first = f"``{op.method} {op.path}`` ({op.id})."
    lines = [first]
    if len(indent + '"""' + first + '"""') > WIDTH:
        lines = [f"{op.method} ({op.id}):", "", f"``{op.path}``"]
    if len(indent + '"""' + lines[0] + '"""') > WIDTH:
        raise SystemExit(f"docstring too long: {lines[0]}")
    notes = []
    if op.deprecated:
        notes.append("Deprecated by the service.")
    if op.retry == "unsafe":
        notes.append(f"Never re-sent once it may have reached the server: {op.retry_why}.")
    elif op.retry == "assign":
        notes.append(
            "With ``Random`` or ``TaskProperty`` never re-sent once it may have reached the "
            "server (the server picks the tasks); ``Selection`` retries as usual."
        )
    elif op.retry == "input-zip":
        notes.append(
            "A ZIP (``input_data_name`` or ``input_data_path`` ending in ``.zip``) starts a "
            "job and is never re-sent once it may have reached the server."
        )
    if not op.authenticated:
        notes.append("Sent without credentials.")
    if notes:
        lines.append("")
        lines += wrap(" ".join(notes), WIDTH - 8 - len(indent))
    out = [indent + '"""' + lines[0]]
    out += [(indent + line) if line else "" for line in lines[1:]]
    if len(out) == 1:
        out[0] += '"""'
        if len(out[0]) > WIDTH:
            raise SystemExit(f"docstring too long: {out[0]}")
    else:
        out.append(indent + '"""')
    return out


def wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines


def render_method(op: Op) -> list[str]:
    indent = "    "
    args = ["self"] + [f"{p}: str" for p in op.path_params]
    keywords = []
    if op.query:
        required = any(q.required for q in op.query)
        keywords.append(
            f"query_params: {op.query_type}"
            if required
            else f"query_params: {op.query_type} | None = None"
        )
    if op.body_kind is not None:
        keywords.append(
            f"request_body: {op.body_type}"
            if op.body_required
            else f"request_body: {op.body_type} | None = None"
        )
    if keywords:
        args += ["*", *keywords]
    annotation, helper = op.returns
    head = f"async def {op.name}("
    tail = f") -> {annotation}:"
    lines = (
        call_lines(head, args, tail, indent)
        if len(args) == 1
        else exploded(head, args, tail, indent)
    )
    lines += docstring(op, indent * 2)
    call_args = ["self._send", constant(op.id)]
    path_tuple = tuple_expr(list(op.path_params))
    if op.path_params or op.query or op.body_kind is not None:
        call_args.append(path_tuple if op.path_params else "()")
    if op.query or op.body_kind is not None:
        call_args.append("query_params" if op.query else "None")
    if op.body_kind is not None:
        call_args.append("request_body")
    lines += call_lines(f"return await {helper}(", call_args, ")", indent * 2)
    return lines


HEADER = '''\
# Generated by scripts/generate_annofab_api.py from tests/contract/annofab/: do not edit.
"""The whole Annofab Web API as coroutines, one per operation (API {version}).

``AnnofabSession.api`` (v1, {v1} operations) and ``AnnofabSession.api2`` (the cached v2
reads, {v2} operations) are named and called as the official client's methods, so code
written for it ports by adding ``await``::

    page = await af.api.get_input_data_list("prj-1", query_params={{"page": 1, "limit": 200}})
    task = await af.api.get_task("prj-1", "task-1")
    await af.api.put_webhook("prj-1", "hook-1", request_body={{...}})
    members = await af.api2.get_project_members_v2("prj-1")

Path parameters come first, in path order; then the keywords ``query_params=`` (a
TypedDict of the spec's names and types) and ``request_body=`` (the JSON body). Each
returns the decoded JSON answer (``None`` where the spec has no body) and raises annoq's
typed errors. Every call goes through the session's transport: credentials, one refresh
on a 401, time limits, retries (never for an operation that could apply twice when
repeated, once it may have reached the server). Bad arguments raise
:class:`~annoq.InvalidArgumentError` before anything is sent. Array query parameters go
out comma-separated.
"""

# No ``from __future__ import annotations``: the TypedDicts' required keys are then
# evaluated, so ``__required_keys__`` is right at run time too.

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Required, TypedDict, get_args

from ._operations import (
    Operation,
    Param,
    Send,
    call_array,
    call_bytes,
    call_json,
    call_none,
    call_object,
)
'''


def render(v1: list[Op], v2: list[Op], spec: Spec, version: str) -> str:
    ops = v1 + v2
    helpers_used = {op.returns[1] for op in ops}
    header = HEADER.format(version=version, v1=len(v1), v2=len(v2))
    for helper in ("call_array", "call_bytes", "call_json", "call_none", "call_object"):
        if helper not in helpers_used:
            header = header.replace(f"    {helper},\n", "")
    if not any(q.enum_alias for op in ops for q in op.query):
        header = header.replace(", get_args", "")
    out: list[str] = header.rstrip("\n").split("\n")
    names = sorted(
        ["AnnofabApi", "AnnofabApiV2", "OPERATIONS", "OPERATIONS_V2"]
        + [op.query_type for op in ops if op.query],
        key=lambda n: (0 if n.isupper() else 1, n),  # as ruff's isort-style sort has it
    )
    out += ["", "__all__ = ["] + [f"    {json.dumps(n)}," for n in names] + ["]", ""]
    out += [f"API_VERSION = {json.dumps(version)}", ""]
    if spec.aliases:
        out += ["# -- enums of query parameters", ""]
        for name in sorted(spec.aliases):
            out += render_alias(name, spec.aliases[name])
        out.append("")
    out += ["# -- query parameters, one TypedDict per operation that takes any", "", ""]
    for op in ops:
        if op.query:
            out += render_typeddict(op)
            out += ["", ""]
    out += ["# -- operations", ""]
    for op in ops:
        out += render_operation(op)
        out.append("")
    for title, table in (("OPERATIONS", v1), ("OPERATIONS_V2", v2)):
        out.append(f"{title}: tuple[Operation, ...] = (")
        out += [f"    {constant(op.id)}," for op in table]
        out += [")", ""]
    out[-1:] = ["", ""]
    for cls, table, doc in (
        ("AnnofabApi", v1, "Annofab Web API v1 (``/api/v1``), bound to one session's transport."),
        (
            "AnnofabApiV2",
            v2,
            "Annofab Web API v2 (``/api/v2``, cached reads), bound to one session's transport.",
        ),
    ):
        out += [f"class {cls}:", f'    """{doc}', "", "    Reach it as ``session.api``.", '    """']
        if cls == "AnnofabApiV2":
            out[-2:] = [
                "    Reach it as ``session.api2``. The v2 reads authorize with signed cookies:",
                '    call ``get_signed_access_v2(query_params={"url": "/projects/PROJECT_ID/*"})``',
                "    first (again when they expire); the session's cookie jar keeps and sends",
                "    them.",
                '    """',
            ]
        out += [
            "",
            '    __slots__ = ("_send",)',
            "",
            "    def __init__(self, send: Send) -> None:",
            "        self._send = send",
        ]
        for op in table:
            out.append("")
            out += render_method(op)
        out += ["", ""]
    while out and out[-1] == "":
        out.pop()
    text = "\n".join(out) + "\n"
    for number, line in enumerate(text.split("\n"), 1):
        if len(line) > WIDTH:
            raise SystemExit(f"generated line {number} is too long: {line}")
    return text


# ---------------------------------------------------------------------- the seed table

#: Typed calls of annoq that do what a seed method does (besides the low-level call).
TYPED_CALLS: dict[str, str] = {
    "login": "``await af.login(mfa_code=...)`` (or lazily on first use)",
    "logout": "``await af.logout()``",
    "refresh_token": "automatic on a 401 (one refresh for all concurrent requests)",
    "get_my_account": "``await af.my_account()``",
    "get_task": "``await project.task(task_id)``",
    "get_tasks": "``project.tasks(...)`` (walk), ``await project.task_page(...)``",
    "get_task_histories": "``await project.task_histories(task_id)``",
    "operate_task": "``await project.bulk_operate(ids, action)``",
}


def call_text(op: Op, receiver: str) -> str:
    args = list(op.path_params)
    if any(q.required for q in op.query):
        args.append("query_params={...}")
    if op.body_kind is not None and op.body_required:
        args.append("request_body=...")
    return f"``await {receiver}.{op.name}({', '.join(args)})``"


def render_seed_table(seed: list[Mapping[str, Any]], v1: list[Op], version: str) -> str:
    by_name = {op.name: op for op in v1}
    present = sum(row["status"] == "present" for row in seed)
    lines = [
        "<!-- Generated by scripts/generate_annofab_api.py from tests/contract/annofab/: "
        "do not edit. -->",
        "",
        "# The official client's methods in annoq",
        "",
        f"The reference of the official synchronous client (annofabapi, 2021) has {len(seed)} "
        f"methods. Annofab's Web API (v{version}) still has {present} of them; each is one "
        "coroutine of ``AnnofabSession.api``, with the same name and arguments "
        "(add ``await``). The other "
        f"{len(seed) - present} were removed from the service; the table names the call "
        "that replaced them where there is one.",
        "",
        "| # | official method | HTTP | annoq |",
        "|---|---|---|---|",
    ]
    for row in seed:
        method = row["method"]
        http = f"``{row['http']} {row['path']}``"
        if row["status"] == "present":
            op = by_name.get(method)
            if op is None:
                raise SystemExit(f"seed method {method} is present but not in the spec")
            text = call_text(op, "af.api")
            if method in TYPED_CALLS:
                text += "; typed: " + TYPED_CALLS[method]
            if row.get("deprecated"):
                text += " (deprecated by the service)"
        else:
            text = f"removed from the service in API {row['removed_in']}"
            replacement = row.get("replaced_by")
            if replacement:
                op = by_name.get(replacement)
                if op is None:
                    raise SystemExit(f"replacement {replacement} is not in the spec")
                text += "; use " + call_text(op, "af.api")
        lines.append(f"| {row['number']} | ``{method}`` | {http} | {text} |")
    others = sorted(set(by_name) - {row["method"] for row in seed})
    lines += [
        "",
        f"Operations newer than the reference ({len(others)}), also on ``af.api``: "
        + ", ".join(f"``{name}``" for name in others)
        + ".",
        "",
    ]
    return "\n".join(lines).replace("``", "`")  # Markdown, not reST


def generate(facts: Path = FACTS) -> tuple[str, list[Op], list[Op]]:
    schemas = json.loads((facts / "annofab-v1.schemas.json").read_text("utf-8"))["schemas"]
    spec = Spec(schemas)
    v1_doc = json.loads((facts / "annofab-v1.operations.json").read_text("utf-8"))
    v2_doc = json.loads((facts / "annofab-v2.operations.json").read_text("utf-8"))
    v1 = [Op(raw, spec, v1_doc["base_path"]) for raw in v1_doc["operations"]]
    v2 = [Op(raw, spec, v2_doc["base_path"]) for raw in v2_doc["operations"]]
    names = [op.name for op in v1] + [op.name for op in v2]
    if len(set(names)) != len(names):
        raise SystemExit("two operations have the same name")
    return render(v1, v2, spec, v1_doc["api_version"]), v1, v2


def generate_docs(v1: list[Op], facts: Path = FACTS) -> str:
    seed = json.loads((facts / "seed-methods.json").read_text("utf-8"))["methods"]
    version = json.loads((facts / "annofab-v1.operations.json").read_text("utf-8"))
    return render_seed_table(seed, v1, version["api_version"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--output", type=Path, help="directory to write _api.py and the seed table into"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if _api.py is stale")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    text, v1, v2 = generate()
    docs = generate_docs(v1)
    outputs = {TARGET: text, DOCS: docs}
    if args.check:
        for path, content in outputs.items():
            current = path.read_text("utf-8") if path.exists() else ""
            if current != content:
                print(f"{path.relative_to(ROOT)} is out of date: run {Path(__file__).name}")
                return 1
        return 0
    for path, content in outputs.items():
        target = (args.output / path.name) if args.output else path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, "utf-8")
    elapsed = time.perf_counter() - started
    unsafe = sorted(op.name for op in v1 + v2 if op.retry != "safe")
    print(
        f"wrote {TARGET.name} and {DOCS.name}: {len(v1)} v1 + {len(v2)} v2 operations, "
        f"{len(unsafe)} retry-unsafe, in {elapsed * 1000:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
