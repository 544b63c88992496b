"""Charts drawn on the server as inline SVG: no script, no CDN, and they print as they look."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

STATE_COLOURS = {"in_use": "#2e7d32", "idle": "#f2b705", "off": "#9e9e9e", "fault": "#c62828", "unknown": "#eceff1"}


def percent(value: float | None) -> str:
    """A rate as a percentage with one decimal rounded half up (13/16 is 81.3%), or an em dash."""
    if value is None:
        return "—"
    return f"{(Decimal(repr(value)) * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def bar(value: float | None, width: int = 140, colour: str = "#1565c0") -> Markup:
    """A horizontal bar for a rate in [0, 1] (an empty frame when there is none)."""
    filled = 0 if value is None else round(max(0.0, min(1.0, value)) * width)
    return Markup(
        f'<svg class="bar" width="{width}" height="12" role="img" aria-label="{escape(percent(value))}">'
        f'<rect width="{width}" height="12" fill="#e3eaf2"/><rect width="{filled}" height="12" fill="{colour}"/></svg>'
    )


def _heat(value: float | None) -> str:
    if value is None:
        return "#f5f5f5"
    v = max(0.0, min(1.0, value))
    r, g, b = round(232 - v * 211), round(240 - v * 139), round(254 - v * 62)  # pale blue to #1565c0
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(rows: Sequence[str], columns: Sequence[str], cells: dict[tuple[str, str], float | None]) -> Markup:
    """A grid of rates, one row per `rows` label and one column per `columns` label, each cell labelled."""
    label_w, cell_w, cell_h = 110, 56, 26
    width, height = label_w + cell_w * len(columns), cell_h * (len(rows) + 1)
    out = [f'<svg class="heatmap" width="{width}" height="{height}" role="img">']
    for j, col in enumerate(columns):
        x = label_w + j * cell_w + cell_w / 2
        out.append(f'<text x="{x}" y="17" text-anchor="middle" class="axis">{escape(col)}</text>')
    for i, row in enumerate(rows):
        y = (i + 1) * cell_h
        out.append(f'<text x="4" y="{y + 17}" class="axis">{escape(row)}</text>')
        for j, col in enumerate(columns):
            v = cells.get((row, col))
            x = label_w + j * cell_w
            ink = "#fff" if v is not None and v > 0.5 else "#263238"
            out.append(
                f'<g data-row="{escape(row)}" data-col="{escape(col)}"><title>{escape(row)} · {escape(col)}: '
                f'{escape(percent(v))}</title><rect x="{x + 1}" y="{y + 1}" width="{cell_w - 2}" height="{cell_h - 2}" '
                f'fill="{_heat(v)}"/><text x="{x + cell_w / 2}" y="{y + 17}" text-anchor="middle" fill="{ink}" '
                f'class="cell">{escape(percent(v))}</text></g>'
            )
    out.append("</svg>")
    return Markup("".join(out))


def timeline(
    pieces: Sequence[dict[str, object]],
    start_ms: int,
    end_ms: int,
    tz: ZoneInfo,
    state_names: dict[str, str],
    overlay: Sequence[tuple[int, float]] = (),
    approximate_label: str = "approximate",
) -> Markup:
    """A strip of state pieces (`state`, `start_ms`, `end_ms`, `approximate`) over [start, end) with local time
    ticks, approximate pieces hatched, and a reading's line drawn over it (scaled to its largest value)."""
    width, strip_h = 960, 34
    span = max(end_ms - start_ms, 1)

    def x(ms: int) -> float:
        return round((min(max(ms, start_ms), end_ms) - start_ms) / span * width, 2)

    out = [
        f'<svg class="timeline" width="{width}" height="{strip_h + 22}" role="img">'
        '<defs><pattern id="approximate" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#fff" stroke-width="3"/>'
        "</pattern></defs>"
    ]
    for p in pieces:
        a, b, state = int(p["start_ms"]), int(p["end_ms"]), str(p["state"])  # type: ignore[call-overload]
        when = f"{_clock(a, tz)}–{_clock(b, tz)}"
        name, colour = state_names.get(state, state), STATE_COLOURS.get(state, "#000")
        guessed = bool(p.get("approximate"))
        title = f"{name} ({approximate_label}) {when}" if guessed else f"{name} {when}"
        w = max(x(b) - x(a), 0.5)
        out.append(
            f'<rect class="piece" data-state="{escape(state)}" x="{x(a)}" y="0" width="{w}" '
            f'height="{strip_h}" fill="{colour}"><title>{escape(title)}</title></rect>'
        )
        if guessed:
            out.append(
                f'<rect class="approximate" x="{x(a)}" y="0" width="{w}" height="{strip_h}" '
                f'fill="url(#approximate)" opacity="0.6"><title>{escape(title)}</title></rect>'
            )
    if overlay:
        top = max(v for _, v in overlay) or 1.0
        points = " ".join(f"{x(t)},{round(strip_h - 2 - max(v, 0) / top * (strip_h - 4), 2)}" for t, v in overlay)
        out.append(f'<polyline class="reading" points="{points}" fill="none" stroke="#0d47a1" stroke-width="1.2"/>')
    day = span > 36 * 3600_000
    tick = datetime.fromtimestamp(start_ms / 1000, tz).replace(minute=0, second=0, microsecond=0)
    step = timedelta(days=1) if day else timedelta(hours=2)
    if day:
        tick = tick.replace(hour=0)
    while (ms := int(tick.timestamp() * 1000)) < end_ms:
        if ms >= start_ms:
            label = tick.strftime("%m-%d") if day else tick.strftime("%H:%M")
            out.append(
                f'<line x1="{x(ms)}" x2="{x(ms)}" y1="0" y2="{strip_h + 4}" class="tick"/>'
                f'<text x="{x(ms) + 2}" y="{strip_h + 16}" class="axis">{label}</text>'
            )
        tick = (tick + step).replace(tzinfo=None).replace(tzinfo=tz)  # wall-clock steps across DST changes
    out.append("</svg>")
    return Markup("".join(out))


def _clock(ms: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ms / 1000, tz).strftime("%m-%d %H:%M")


def columns(points: Sequence[tuple[str, float | None]], colour: str = "#1565c0") -> Markup:
    """A column per labelled rate in [0, 1], its percentage above it; a missing rate leaves its column empty."""
    col_w, gap, plot_h, top, foot = 44, 8, 120, 18, 20
    width, height = len(points) * (col_w + gap) + gap, top + plot_h + foot
    out = [f'<svg class="columns" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">']
    out.append(f'<line x1="0" y1="{top + plot_h}" x2="{width}" y2="{top + plot_h}" stroke="#cfd8dc"/>')
    for i, (label, value) in enumerate(points):
        x = gap + i * (col_w + gap)
        h = 0 if value is None else round(max(0.0, min(1.0, value)) * plot_h)
        out.append(
            f'<g data-label="{escape(label)}"><title>{escape(label)}: {escape(percent(value))}</title>'
            f'<rect x="{x}" y="{top + plot_h - h}" width="{col_w}" height="{h}" fill="{colour}"/>'
            f'<text x="{x + col_w / 2}" y="{top + plot_h - h - 4}" text-anchor="middle" class="cell">'
            f"{escape(percent(value)) if value is not None else ''}</text>"
            f'<text x="{x + col_w / 2}" y="{top + plot_h + 14}" text-anchor="middle" class="axis">'
            f"{escape(label)}</text></g>"
        )
    out.append("</svg>")
    return Markup("".join(out))
