"""The geometry of the job page's SVG charts, computed on the server (no script, no CDN):
the timeline of attempts per instance and scoring process, the histogram of mini-batch
durations, and a pipeline's steps as a graph. The templates only place what this computes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from emulator.service.activity import AttemptMark

WIDTH = 1000  # viewBox units; the SVG scales to the page's width
LABEL_WIDTH = 190  # the rows' names, left of the plot
ROW_HEIGHT = 18
AXIS_HEIGHT = 22
MIN_BAR = 1.5  # a 0.1 ms attempt stays visible and hoverable
TICKS = 6
MAX_DECLARED_ROWS = 64  # beyond, only the processes that scored get a row
HISTOGRAM_BINS = 20
HISTOGRAM_WIDTH, HISTOGRAM_LABEL = 560, 60  # beside the slowest mini-batches' table
HISTOGRAM_HEIGHT = 150
STEP_BOX = (170, 46)
STEP_GAP = (70, 22)

# an attempt's kind as the page colours it (Azure's statuses of processed_mini-batches.csv)
KINDS = {"RUN_DONE": "done", "RUN_EXCEPTION": "exception", "RUN_TIMEOUT": "timeout",
         "PROCESS_CRASHED": "crash", "NOT_RUN": "not-run"}


@dataclass(frozen=True)
class Bar:
    mark: AttemptMark
    x: float
    y: float
    width: float
    kind: str  # done, exception, timeout, crash, not-run

    @property
    def classes(self) -> str:
        return f"attempt {self.kind}" + (" retried" if self.mark.retried else "")


@dataclass
class Timeline:
    rows: list[str]
    bars: list[Bar]
    ticks: list[tuple[float, str]]  # (x, label)
    height: float
    plot_width: float = WIDTH - LABEL_WIDTH
    label_width: float = LABEL_WIDTH
    row_height: float = ROW_HEIGHT


def timeline(marks: Sequence[AttemptMark], declared_rows: Iterable[str], start: float | None,
             end: float) -> Timeline:
    """Each attempt a bar on its ``instance / process`` row, along the job's time from
    ``start`` (else the first attempt's start) to ``end``; rows that scored nothing (an idle
    instance) are kept, so that idleness shows."""
    rows = sorted(set(declared_rows) | {_row(mark) for mark in marks})
    first = min([mark.start for mark in marks] + ([start] if start else []), default=end)
    last = max([mark.start + mark.elapsed for mark in marks] + [end])
    span = max(last - first, 1e-3)
    scale = (WIDTH - LABEL_WIDTH) / span
    index = {row: number for number, row in enumerate(rows)}
    bars = [Bar(mark=mark, x=LABEL_WIDTH + (mark.start - first) * scale,
                y=AXIS_HEIGHT + index[_row(mark)] * ROW_HEIGHT + 2,
                width=max(mark.elapsed * scale, MIN_BAR), kind=KINDS.get(mark.status, "other"))
            for mark in marks]
    ticks = [(LABEL_WIDTH + value * scale, seconds(value)) for value in _steps(span)]
    return Timeline(rows=rows, bars=bars, ticks=ticks,
                    height=AXIS_HEIGHT + max(len(rows), 1) * ROW_HEIGHT + 4)


def _row(mark: AttemptMark) -> str:
    return f"{mark.instance} / {mark.process}"


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    count: int
    x: float
    y: float
    width: float
    height: float


@dataclass
class Histogram:
    bins: list[Bin]
    ticks: list[tuple[float, str]]
    top: int  # the largest count
    height: float = HISTOGRAM_HEIGHT
    width: float = HISTOGRAM_WIDTH


def histogram(durations: Sequence[float], bins: int = HISTOGRAM_BINS) -> Histogram:
    """How many mini-batches took how long: ``bins`` equal ranges from 0 to the longest."""
    longest = max(durations, default=0.0) or 1e-3
    size = longest / bins
    counts = [0] * bins
    for value in durations:
        counts[min(int(value / size), bins - 1)] += 1
    top = max(counts, default=0) or 1
    plot = HISTOGRAM_HEIGHT - AXIS_HEIGHT
    width = (HISTOGRAM_WIDTH - HISTOGRAM_LABEL) / bins
    made = [Bin(low=number * size, high=(number + 1) * size, count=count,
                x=HISTOGRAM_LABEL + number * width, y=plot - count / top * plot,
                width=width - 1, height=count / top * plot)
            for number, count in enumerate(counts)]
    scale = (HISTOGRAM_WIDTH - HISTOGRAM_LABEL) / longest
    ticks = [(HISTOGRAM_LABEL + value * scale, seconds(value)) for value in _steps(longest)]
    return Histogram(bins=made, ticks=ticks, top=top)


@dataclass(frozen=True)
class StepBox:
    name: str
    document: dict
    x: float
    y: float


@dataclass
class StepGraph:
    boxes: list[StepBox]
    edges: list[tuple[float, float, float, float]]  # from (x, y) to (x, y)
    width: float
    height: float
    box: tuple[int, int] = STEP_BOX
    names: dict[str, StepBox] = field(default_factory=dict)


def step_graph(steps: Sequence[tuple[str, dict]], waits_for: dict[str, list[str]]) -> StepGraph:
    """A pipeline's steps in columns by depth (a step right of every step it waits for),
    in the order given within a column, with an edge from each step to the ones it feeds."""
    known = {name for name, _ in steps}
    depth: dict[str, int] = {}

    def depth_of(name: str, seen: frozenset = frozenset()) -> int:
        if name not in depth:  # a pipeline has no cycle (checked when it was created)
            depth[name] = 1 + max((depth_of(before, seen | {name})
                                   for before in waits_for.get(name, ())
                                   if before in known and before not in seen), default=-1)
        return depth[name]

    for name, _ in steps:
        depth_of(name)
    columns: dict[int, int] = {}
    boxes: dict[str, StepBox] = {}
    for name, document in steps:
        column = depth[name]
        row = columns.get(column, 0)
        columns[column] = row + 1
        boxes[name] = StepBox(name, document, x=10 + column * (STEP_BOX[0] + STEP_GAP[0]),
                              y=10 + row * (STEP_BOX[1] + STEP_GAP[1]))
    edges = [(boxes[before].x + STEP_BOX[0], boxes[before].y + STEP_BOX[1] / 2,
              box.x, box.y + STEP_BOX[1] / 2)
             for name, box in boxes.items() for before in waits_for.get(name, ())
             if before in boxes]
    width = 20 + max(columns, default=0) * (STEP_BOX[0] + STEP_GAP[0]) + STEP_BOX[0]
    height = 20 + max(columns.values(), default=1) * (STEP_BOX[1] + STEP_GAP[1])
    return StepGraph(boxes=list(boxes.values()), edges=edges, width=width, height=height,
                     names=boxes)


def seconds(value: float) -> str:
    """A duration as a person reads it: 0.4 ms, 12 ms, 3.2 s, 4 min 5 s, 2 h 3 min."""
    if value < 1:
        return f"{value * 1000:.3g} ms" if value else "0 s"
    if value < 60:
        return f"{value:.3g} s"
    if value < 3600:
        minutes, rest = divmod(round(value), 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(round(value) // 60, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def _steps(span: float) -> list[float]:
    """Round tick values from 0 within ``span``: steps of 1, 2 or 5 times a power of ten."""
    raw = span / TICKS
    power = 10 ** math.floor(math.log10(raw))
    step = next(factor * power for factor in (1, 2, 5, 10) if factor * power >= raw)
    return [number * step for number in range(int(span / step) + 1)]
