"""Bar charts drawn on the server as inline SVG: no script, no library, nothing fetched from elsewhere.

Each bar carries its value as read (the amount with its currency) in a `<title>`, which browsers show on hover and
screen readers read; a bar may link to the list or report behind it. Heights are proportions of the largest bar,
computed in Decimal (no float near an amount); the colours come from the admin's stylesheet (dashboard.css), so
the dark theme follows.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 640
HEIGHT = 220
TOP = 22  # room for the largest value's label
BOTTOM = 34  # room for the bars' labels
SIDE = 8
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM
BAR_SHARE = Decimal("0.7")  # of each bar's slot
# A slot this wide (px) has room for its value above the bar.
VALUE_LABEL_SLOT = 96
PIXEL = Decimal("0.1")


@dataclass(frozen=True)
class Bar:
    label: str
    value: Decimal
    text: str  # the value as people read it: "€1,234.50"
    url: str | None = None


def _px(value: Decimal) -> str:
    return str(value.quantize(PIXEL))


def bar_height(value: Decimal, largest: Decimal) -> Decimal:
    """The bar's height in px: a share of the plot's, at least one pixel for any amount above zero."""
    if largest <= 0 or value <= 0:
        return Decimal(0)
    return max(Decimal(value) / Decimal(largest) * PLOT_HEIGHT, Decimal(1))


def _bar(bar: Bar, *, index: int, slot: Decimal, largest: Decimal, show_value: bool) -> SafeString:
    height = bar_height(bar.value, largest)
    width = slot * BAR_SHARE
    x = SIDE + slot * index + (slot - width) / 2
    y = TOP + PLOT_HEIGHT - height
    centre = SIDE + slot * index + slot / 2
    shape = format_html(
        '<rect class="billing-chart-bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>',
        _px(x),
        _px(y),
        _px(width),
        _px(height),
        bar.label,
        bar.text,
    )
    if bar.url:
        shape = format_html('<a href="{}" aria-label="{}: {}">{}</a>', bar.url, bar.label, bar.text, shape)
    value = (
        format_html(
            '<text class="billing-chart-value" x="{}" y="{}" text-anchor="middle">{}</text>',
            _px(centre),
            _px(y - 5),
            bar.text,
        )
        if show_value and bar.value > 0
        else ""
    )
    label = format_html(
        '<text class="billing-chart-label" x="{}" y="{}" text-anchor="middle">{}</text>',
        _px(centre),
        HEIGHT - BOTTOM + 16,
        bar.label,
    )
    return format_html("{}{}{}", shape, value, label)


def bar_chart_svg(bars: list[Bar], *, title: str, largest_text: str = "") -> SafeString:
    """A bar chart of `bars`, left to right, under the accessible name `title`. `largest_text` (the largest value as
    read) labels the top of the scale when the bars are too narrow to carry their own values."""
    largest = max((bar.value for bar in bars), default=Decimal(0))
    slot = Decimal(WIDTH - 2 * SIDE) / max(len(bars), 1)
    show_values = slot >= VALUE_LABEL_SLOT
    baseline = TOP + PLOT_HEIGHT
    scale = (
        format_html(
            '<line class="billing-chart-grid" x1="{}" y1="{}" x2="{}" y2="{}"/>'
            '<text class="billing-chart-value" x="{}" y="{}">{}</text>',
            SIDE,
            TOP,
            WIDTH - SIDE,
            TOP,
            SIDE,
            TOP - 6,
            largest_text,
        )
        if largest_text and not show_values and largest > 0
        else ""
    )
    return format_html(
        '<svg class="billing-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg">{}<line class="billing-chart-axis" x1="{}" y1="{}" x2="{}" y2="{}"/>{}</svg>',
        WIDTH,
        HEIGHT,
        title,
        scale,
        SIDE,
        baseline,
        WIDTH - SIDE,
        baseline,
        format_html_join(
            "",
            "{}",
            (
                (_bar(bar, index=index, slot=slot, largest=largest, show_value=show_values),)
                for index, bar in enumerate(bars)
            ),
        ),
    )
