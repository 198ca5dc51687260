"""Numbered file-name templates (``"run/{:05d}.tif"``), parsed and formatted without ``str.format``.

``str.format`` of user text can read attributes (``{0.__class__}``), index (``{0[0]}``) or allocate
a field of any width (``{:>50000000}``). A template here has exactly one replacement field that
takes the file number, with at most an integer format spec; everything else is refused by
:func:`parse_template` with a ``ValueError`` that names the template.
"""

from __future__ import annotations

import dataclasses
import re

from prefetcher._remote import display_name

__all__ = ["MAX_WIDTH", "Template", "parse_template", "printf_hint"]

#: The widest field a template may ask for (``{:032d}``); a file number needs far fewer digits.
MAX_WIDTH = 32

# [[fill]align][sign][0][width][d]: the integer part of the format-spec mini-language, nothing else.
_SPEC = re.compile(
    r"(?:(?P<fill>[^{}])?(?P<align>[<>=^]))?(?P<sign>[-+ ])?(?P<zero>0)?(?P<width>[0-9]+)?d?\Z",
    re.DOTALL,
)
# A field name that stands for "the number": empty ({}), 0 ({0}) or one identifier ({n}).
_NAME = re.compile(r"(?:0|[A-Za-z_][A-Za-z_0-9]*)?\Z")
_PRINTF = re.compile(r"%[-+ #0]*[0-9]*[diu]")


@dataclasses.dataclass(frozen=True)
class Template:
    """A file-name template with one number field: ``format(n)`` is the name of file ``n``."""

    #: The template as the user wrote it.
    text: str
    #: Literal text before and after the field, with ``{{`` / ``}}`` already turned into braces.
    prefix: str
    suffix: str
    #: The field's integer format spec (``"05d"``, ``">4"``, or ``""``).
    spec: str

    def format(self, n: int) -> str:
        """The file name of number ``n``."""
        # format() of an int with a spec that _SPEC accepted: no attribute access, width bounded.
        return f"{self.prefix}{format(n, self.spec)}{self.suffix}"

    def number_of(self, name: str) -> int | None:
        """The number ``n`` with ``format(n) == name``, or ``None`` when there is none."""
        if len(name) <= len(self.prefix) + len(self.suffix):
            return None
        if not (name.startswith(self.prefix) and name.endswith(self.suffix)):
            return None
        field = name[len(self.prefix) : len(name) - len(self.suffix)]
        match = _SPEC.match(self.spec)
        assert match is not None  # checked by parse_template
        fill = match["fill"]
        digits = field.strip(fill) if fill else field
        if fill and field[:1] in "+-":  # "=" alignment puts the fill between sign and digits
            digits = field[0] + field[1:].lstrip(fill)
        try:
            n = int(digits)
        except ValueError:
            return None
        # The round trip rejects names the template would never write ("007" for "{}").
        return n if self.format(n) == name else None


def parse_template(text: str) -> Template | None:
    """Parse ``text`` as a numbered template, or return ``None`` when it has no field at all.

    A text without any replacement field (no ``{``, or only ``{{`` and ``}}``, or a lone brace
    that ``str.format`` could not parse either) is a plain path, not a template.

    Raises:
        ValueError: ``text`` has a field but is not a template of one number: several fields,
            attribute access or indexing, a conversion (``!r``), a nested field, a spec that is not
            an integer one, or a width above :data:`MAX_WIDTH`. The message names the template.
    """
    split = _split_fields(text)
    if split is None:
        return None
    fields, suffix = split
    if len(fields) > 1:
        raise _bad(text, f"has {len(fields)} fields; a template has exactly one")
    field, prefix = fields[0]
    return Template(text, prefix, suffix, _integer_spec(text, field))


def _split_fields(text: str) -> tuple[list[tuple[str, str]], str] | None:
    """The fields of ``text`` (each with the literal text before it) and the text after them.

    ``None`` when there is no field, or a lone brace shows that the text is a plain path.
    """
    pieces: list[str] = []
    fields: list[tuple[str, str]] = []  # (field text, literal text before it)
    i = 0
    while i < len(text):
        char = text[i]
        if char in "{}" and text[i + 1 : i + 2] == char:
            pieces.append(char)
            i += 2
        elif char == "}":
            return None  # a lone "}": a brace in a file name
        elif char == "{":
            end = text.find("}", i)
            if end < 0:
                return None  # a lone "{": a brace in a file name
            if "{" in text[i + 1 : end]:
                raise _bad(text, "has a nested field")
            fields.append((text[i + 1 : end], "".join(pieces)))
            pieces = []
            i = end + 1
        else:
            pieces.append(char)
            i += 1
    return (fields, "".join(pieces)) if fields else None


def _integer_spec(text: str, field: str) -> str:
    """The format spec of ``field``, the one field of template ``text``, checked."""
    name, colon, spec = field.partition(":")
    if "!" in name:
        raise _bad(text, "has a conversion (!r, !s, !a); write the field as {} or {:05d}")
    if not _NAME.match(name):
        raise _bad(
            text, f"field {{{field}}} reads an attribute or an index; write {{}} or {{:05d}}"
        )
    match = _SPEC.match(spec) if colon else _SPEC.match("")
    if match is None:
        raise _bad(text, f"format spec {spec!r} is not an integer one such as 05d, >4 or d")
    if match["width"] is not None and int(match["width"]) > MAX_WIDTH:
        raise _bad(text, f"field width {int(match['width'])} is over {MAX_WIDTH}")
    return spec


def printf_hint(path: str) -> str | None:
    """A hint for a path written as a printf-style template (``%05d``), or ``None``."""
    match = _PRINTF.search(path)
    if match is None:
        return None
    printf = match.group()
    flags_width = printf[1:-1].replace("#", "")
    return f"numbered templates are written {{:{flags_width}d}}, not {printf}"


def _bad(text: str, why: str) -> ValueError:
    return ValueError(f"template {display_name(text)!r} {why}")
