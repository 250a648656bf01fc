"""Fixtures for the emulator tests: a served emulator and a raw aiohttp client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
import yaml

from annoq.emulator import Emulator, run_emulator

from ._support import Api

CONTRACT = Path(__file__).resolve().parents[1] / "contract"


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with run_emulator(seed=1234) as emulator:
        yield emulator


@pytest.fixture
async def legacy_emu() -> AsyncIterator[Emulator]:
    async with run_emulator(seed=1234, legacy_progress=True) as emulator:
        yield emulator


@pytest.fixture
async def http(emu: Emulator) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=emu.auth_headers()) as session:
        yield session


@pytest.fixture
async def api(emu: Emulator, http: aiohttp.ClientSession) -> Api:
    return Api(emu, http)


@pytest.fixture
async def legacy_api(legacy_emu: Emulator) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession(headers=legacy_emu.auth_headers()) as session:
        yield Api(legacy_emu, session)


RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _is_rfc3339(value: object) -> bool:
    """The date-time format check (jsonschema's own needs an extra package)."""
    if not isinstance(value, str):
        return True
    if not RFC3339.match(value):
        raise ValueError(f"not RFC 3339: {value!r}")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def _schema_for(path: Path, name: str) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/components/schemas/{name}",
        "components": doc["components"],
    }
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


@pytest.fixture(scope="session")
def contract_validators() -> dict[str, jsonschema.Draft202012Validator]:
    """Validators of the two contract endpoints' 200 and 422 answers."""
    query = CONTRACT / "weave-items-query.openapi.yaml"
    progress = CONTRACT / "weave-items-progress.openapi.yaml"
    checker = jsonschema.FormatChecker()
    checker.checks("date-time", raises=ValueError)(_is_rfc3339)
    return {
        name: jsonschema.Draft202012Validator(_schema_for(path, name), format_checker=checker)
        for path, name in [
            (query, "AnnotationQueueItemsQueryRes"),
            (query, "HTTPValidationError"),
            (query, "AnnotationQueueItemsQueryBody"),
            (progress, "AnnotatorQueueItemsProgressUpdateRes"),
            (progress, "AnnotationQueueItemProgressUpdateBody"),
        ]
    }
