"""Annotation specs (``GET /projects/{project_id}/annotation-specs?v=3``): labels,
attributes and their choices, with lookups by id and by name in any language the
specs carry.

    specs = await project.annotation_specs()
    car = specs.label("car")                  # by name, any language ("車" works too)
    occluded = specs.attribute("occluded", label=car)
    red = specs.attribute("color").choice("red")
    print(car.label_id, car.name.get("ja-JP"))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, TypeVar

import attrs

from .._errors import InvalidArgumentError
from ._models import _TolerantEnum

__all__ = [
    "AnnotationSpecs",
    "AttributeSpec",
    "AttributeType",
    "Choice",
    "Color",
    "InspectionPhrase",
    "Label",
    "LangMessage",
    "Message",
]

T = TypeVar("T")


class AttributeType(_TolerantEnum):
    """What an attribute holds (``additionals[].type``)."""

    FLAG = "flag"
    INTEGER = "integer"
    TEXT = "text"
    COMMENT = "comment"
    CHOICE = "choice"
    SELECT = "select"
    TRACKING = "tracking"
    LINK = "link"


@attrs.frozen
class LangMessage:
    """One language's text of a :class:`Message`."""

    lang: str
    message: str


@attrs.frozen
class Message:
    """A name in several languages (``InternationalizationMessage``).

    str(label.name)            # the default language's text
    label.name.get("ja-JP")    # one language's, or None
    """

    messages: tuple[LangMessage, ...]
    default_lang: str

    def get(self, lang: str) -> str | None:
        """The text in ``lang`` (``None`` when the specs have none)."""
        return next((m.message for m in self.messages if m.lang == lang), None)

    @property
    def default(self) -> str:
        """The text in ``default_lang`` (else the first one, else ``""``)."""
        text = self.get(self.default_lang)
        if text is None:
            text = self.messages[0].message if self.messages else ""
        return text

    @property
    def by_lang(self) -> dict[str, str]:
        """``{lang: text}``."""
        return {m.lang: m.message for m in self.messages}

    def matches(self, name: str, lang: str | None = None) -> bool:
        """Whether ``name`` is this text in ``lang`` (any language when ``None``)."""
        return any(m.message == name and (lang is None or m.lang == lang) for m in self.messages)

    def __str__(self) -> str:
        return self.default


@attrs.frozen
class Color:
    """An RGB colour (0 to 255 each)."""

    red: int
    green: int
    blue: int


@attrs.frozen
class Choice:
    """One choice of a ``choice`` or ``select`` attribute."""

    choice_id: str
    name: Message
    keybind: tuple[dict[str, Any], ...] = ()


@attrs.frozen
class AttributeSpec:
    """An attribute definition (``additionals[]``); ``choices`` for choice/select types.

    attribute = specs.attribute("color")
    attribute.choice("red").choice_id
    """

    additional_data_definition_id: str
    name: Message
    type: AttributeType
    choices: tuple[Choice, ...] = ()
    default: bool | int | str | None = None
    read_only: bool = False
    keybind: tuple[dict[str, Any], ...] = ()
    metadata: dict[str, str] = attrs.field(factory=dict, hash=False)

    @property
    def id(self) -> str:
        """``additional_data_definition_id``."""
        return self.additional_data_definition_id

    def choice(self, name: str, *, lang: str | None = None) -> Choice:
        """The choice with this name (in ``lang``, or any language)."""
        return _one(
            self.choices, lambda c: c.name.matches(name, lang), "choice", name, lang, _names
        )

    def choice_by_id(self, choice_id: str) -> Choice:
        """The choice with this id."""
        return _by_id(self.choices, lambda c: c.choice_id, "choice", choice_id)


@attrs.frozen
class InspectionPhrase:
    """A stock inspection comment of the specs."""

    id: str
    text: Message


@attrs.frozen
class Label:
    """A label (``labels[]``): its id, names, annotation type and attributes' ids."""

    label_id: str
    label_name: Message
    annotation_type: str
    additional_data_definitions: tuple[str, ...] = ()
    color: Color | None = None
    keybind: tuple[dict[str, Any], ...] = ()
    field_values: dict[str, Any] = attrs.field(factory=dict, hash=False)
    metadata: dict[str, str] = attrs.field(factory=dict, hash=False)

    @property
    def id(self) -> str:
        """``label_id``."""
        return self.label_id

    @property
    def name(self) -> Message:
        """``label_name``: ``str(label.name)``, ``label.name.get("ja-JP")``."""
        return self.label_name


@attrs.frozen
class AnnotationSpecs:
    """A project's annotation specs (format 3): labels, attributes, restrictions.

        specs.label("car"); specs.label("車", lang="ja-JP"); specs.label_by_id(label_id)
        specs.attribute("occluded"); specs.attributes_of(specs.label("car"))

    Name lookups raise :class:`~annoq.InvalidArgumentError` listing the names there are
    when none matches, or when several do (pass ``lang=`` or look up by id).
    """

    project_id: str
    labels: tuple[Label, ...]
    additionals: tuple[AttributeSpec, ...] = ()
    restrictions: tuple[dict[str, Any], ...] = ()
    inspection_phrases: tuple[InspectionPhrase, ...] = ()
    format_version: str = "3.0.0"
    updated_datetime: datetime | None = None
    annotation_type_version: str | None = None
    option: dict[str, Any] | None = attrs.field(default=None, hash=False)
    metadata: dict[str, str] = attrs.field(factory=dict, hash=False)

    @property
    def languages(self) -> tuple[str, ...]:
        """Every language some label or attribute name is given in."""
        seen: dict[str, None] = {}
        for message in (
            *(label.label_name for label in self.labels),
            *(a.name for a in self.additionals),
        ):
            seen.update(dict.fromkeys(m.lang for m in message.messages))
        return tuple(seen)

    def label(self, name: str, *, lang: str | None = None) -> Label:
        """The label with this name (in ``lang``, or in any language)."""
        return _one(
            self.labels, lambda x: x.label_name.matches(name, lang), "label", name, lang, _names
        )

    def label_by_id(self, label_id: str) -> Label:
        """The label with this id."""
        return _by_id(self.labels, lambda x: x.label_id, "label", label_id)

    def attribute(
        self, name: str, *, lang: str | None = None, label: Label | str | None = None
    ) -> AttributeSpec:
        """The attribute with this name (of ``label``, a Label or a label name, when
        given)."""
        pool: Iterable[AttributeSpec] = self.additionals
        if label is not None:
            pool = self.attributes_of(label)
        return _one(
            tuple(pool), lambda a: a.name.matches(name, lang), "attribute", name, lang, _names
        )

    def attribute_by_id(self, attribute_id: str) -> AttributeSpec:
        """The attribute with this ``additional_data_definition_id``."""
        return _by_id(
            self.additionals, lambda a: a.additional_data_definition_id, "attribute", attribute_id
        )

    def attributes_of(self, label: Label | str) -> tuple[AttributeSpec, ...]:
        """The attributes a label has (a Label, or a label's name)."""
        chosen = self.label(label) if isinstance(label, str) else label
        by_id = {a.additional_data_definition_id: a for a in self.additionals}
        return tuple(by_id[i] for i in chosen.additional_data_definitions if i in by_id)

    def __iter__(self) -> Iterator[Label]:
        return iter(self.labels)


def _names(item: Any) -> Iterable[str]:
    message = item.label_name if isinstance(item, Label) else item.name
    return (m.message for m in message.messages)


def _one(
    items: tuple[T, ...],
    match: Any,
    kind: str,
    name: str,
    lang: str | None,
    names: Any,
) -> T:
    if not isinstance(name, str):
        raise InvalidArgumentError(f"the {kind} name must be a string, got {name!r}")
    found = [item for item in items if match(item)]
    if len(found) == 1:
        return found[0]
    where = f" in {lang}" if lang is not None else ""
    if found:
        raise InvalidArgumentError(
            f"{len(found)} {kind}s are named {name!r}{where}: pass lang= or look it up by id"
        )
    known = sorted({n for item in items for n in names(item)})
    shown = ", ".join(repr(n) for n in known[:30]) + (" ..." if len(known) > 30 else "")
    raise InvalidArgumentError(
        f"no {kind} is named {name!r}{where}; the names are: {shown or '(none)'}"
    )


def _by_id(items: tuple[T, ...], key: Any, kind: str, wanted: str) -> T:
    for item in items:
        if key(item) == wanted:
            return item
    known = ", ".join(repr(key(i)) for i in items[:30]) + (" ..." if len(items) > 30 else "")
    raise InvalidArgumentError(f"no {kind} has the id {wanted!r}; the ids are: {known or '(none)'}")


for _cls in (
    LangMessage,
    Message,
    Color,
    Choice,
    AttributeSpec,
    InspectionPhrase,
    Label,
    AnnotationSpecs,
):
    attrs.resolve_types(_cls)
del _cls
