"""Numbered templates: one number field with an integer spec; everything else is refused."""

from __future__ import annotations

import pytest

from prefetcher._template import MAX_WIDTH, parse_template, printf_hint


@pytest.mark.parametrize(
    ("text", "n", "name"),
    [
        ("{}.png", 7, "7.png"),
        ("{0}.png", 7, "7.png"),
        ("{n}.png", 7, "7.png"),
        ("frame_{:05d}.tif", 7, "frame_00007.tif"),
        ("{:>4}.png", 7, "   7.png"),
        ("{:_<4d}.png", 7, "7___.png"),
        ("{:+d}.png", 7, "+7.png"),
        ("{:=+05d}.png", -7, "-0007.png"),
        ("{{run}}_{}.png", 7, "{run}_7.png"),
    ],
)
def test_template_formats_like_str_format(text: str, n: int, name: str) -> None:
    template = parse_template(text)

    assert template is not None
    assert template.format(n) == name == text.format(n, n=n)


@pytest.mark.parametrize("text", ["plain.png", "{{literal}}.png", "odd{name.png", "odd}name.png"])
def test_text_without_a_field_is_not_a_template(text: str) -> None:
    assert parse_template(text) is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{0.__class__.__name__}{0}.png", "2 fields"),
        ("{0.__class__}.png", "attribute or an index"),
        ("{0[0]}.png", "attribute or an index"),
        ("{1}.png", "attribute or an index"),
        ("{}_{}.png", "2 fields"),
        ("{!r}.png", "conversion"),
        ("{:s}.png", "not an integer one"),
        ("{:.3f}.png", "not an integer one"),
        ("{:,d}.png", "not an integer one"),
        ("{:{w}}.png", "nested field"),
        ("{:>50000000}.png", "width 50000000 is over 32"),
    ],
)
def test_unsafe_template_raises_value_error_that_names_it(text: str, why: str) -> None:
    with pytest.raises(ValueError, match="template") as raised:
        parse_template(text)

    assert repr(text) in str(raised.value)
    assert why in str(raised.value)


def test_widest_allowed_field_is_max_width() -> None:
    template = parse_template(f"{{:0{MAX_WIDTH}d}}")

    assert template is not None
    assert len(template.format(1)) == MAX_WIDTH


def test_template_error_masks_a_url_password() -> None:
    with pytest.raises(ValueError) as raised:
        parse_template("smb://user:SECRET@host/share/{0[0]}.png")

    assert "SECRET" not in str(raised.value)


@pytest.mark.parametrize(
    ("text", "name", "n"),
    [
        ("{:05d}.tif", "00012.tif", 12),
        ("{}.png", "12.png", 12),
        ("{:>4}.png", "  12.png", 12),
        ("{:_<4d}.png", "12__.png", 12),
        ("{}.png", "012.png", None),  # "{}" never writes a leading zero
        ("{}.png", "a.png", None),
        ("{}.png", "12.tif", None),
        ("img{}.png", "img.png", None),
    ],
)
def test_number_of_reads_a_name_back(text: str, name: str, n: int | None) -> None:
    template = parse_template(text)

    assert template is not None
    assert template.number_of(name) == n


def test_printf_hint_says_how_to_write_the_template() -> None:
    assert printf_hint("run/%05d.png") == "numbered templates are written {:05d}, not %05d"


def test_printf_hint_is_none_for_a_plain_path() -> None:
    assert printf_hint("run/100%.png") is None
