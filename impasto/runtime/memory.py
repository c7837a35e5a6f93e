"""The memory planner: know a run's peak memory before running it (torch-free).

Each shipped graph's memory cost was measured once (``tools/measure_memory.py``: the graph
run in a fresh process at a few sizes, peak RSS fitted as ``fixed + per_pixel * pixels``)
and is stored in ``impasto/runtime/data/memory.json``, keyed by the graph's file name. A
pipeline asks :func:`plan_image` for a :class:`Plan`: the estimated peak of running the
image whole, compared with the budget (``--max-memory``, default :data:`DEFAULT_SHARE` of
the available RAM, or of the GPU's memory on a GPU backend). Over budget, the run is tiled
where the pipeline has a bounded-memory path (a stats-form graph,
:mod:`impasto.runtime.pipelines.tiled`), else refused before any work with one line
naming the largest size that fits (:class:`~impasto.errors.MemoryBudgetError`, exit 2).

The costs live in a JSON card beside the graphs, not in the graphs' metadata: they are a
property of the runtime on a machine (ONNX Runtime's arena, the CPU provider), measured
after export, and re-measuring them must not change the shipped graphs (which the tests
rebuild from their checkpoints and compare).

Convention:
    Sizes are bytes (``int``); images ``height x width`` pixels. A graph missing from the
    card gets :data:`UNMEASURED` (a deliberately high per-pixel cost) and the plan says
    ``"cost": "unmeasured default"``. Peak RSS is the process's (``ru_maxrss``), so the
    fixed part holds the interpreter, numpy, OpenCV and ONNX Runtime.
"""

from __future__ import annotations

import json
import math
import os
import re
import resource
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from impasto.errors import MemoryBudgetError, UserError

CARD_PATH = Path(__file__).resolve().parent / "data" / "memory.json"
#: The default budget's share of the available memory (the rest: other programs, the page cache, estimate error).
DEFAULT_SHARE = 0.55
#: Bytes per pixel of the full-size buffers a run holds besides the graph: the file's bytes and the decode
#: (BGR + RGB), the input and output ``uint8`` images and the output's encoding.
IMAGE_BYTES_PER_PIXEL = 14
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@dataclass(frozen=True)
class MemoryCost:
    """Peak RSS of running one graph on an image: ``fixed + per_pixel * pixels`` bytes.

    Attributes:
        fixed: bytes at any size (the process, the loaded graph).
        per_pixel: bytes per input pixel (activations, tensors, the images).
        source: where the figures come from (``"measured ..."`` or ``"unmeasured default"``).
    """

    fixed: int
    per_pixel: float
    source: str = "unmeasured default"

    def peak(self, pixels: int) -> int:
        return int(self.fixed + self.per_pixel * pixels)

    def max_pixels(self, budget: int) -> int:
        """The most pixels whose estimated peak fits in ``budget`` (0 if none)."""
        return max(0, int((budget - self.fixed) / self.per_pixel))


#: The cost of a graph the card does not know: the most costly shipped graph's per-pixel figure, rounded up.
UNMEASURED = MemoryCost(fixed=400 << 20, per_pixel=2500.0)


def parse_size(text: str | int) -> int:
    """``"2G"``, ``"512M"``, ``"1.5g"``, ``"800K"``, ``"2GiB"`` or a number of bytes -> bytes (powers of 1024).

    Raises:
        UserError: anything else, or a size of 0.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", str(text), re.IGNORECASE)
        if m is None:
            raise UserError(f"--max-memory: expected a size like 2G, 512M or 800K (powers of 1024), got {text!r}")
        value = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if value <= 0:
        raise UserError(f"--max-memory: expected a positive size, got {text!r}")
    return value


def format_size(nbytes: float) -> str:
    """``1536 MiB`` style: the largest unit that keeps the number at least 1, one decimal for GiB."""
    if nbytes >= 1 << 30:
        return f"{nbytes / (1 << 30):.1f} GiB"
    return f"{nbytes / (1 << 20):.0f} MiB"


def available_ram() -> int:
    """Bytes of RAM available to a new allocation: ``MemAvailable`` of /proc/meminfo, else free pages."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def gpu_memory() -> int | None:
    """Bytes of the first CUDA device's memory, or None where it cannot be read (no cuda-python, no device)."""
    try:
        from impasto.runtime.tensorrt.cuda_mem import device_info

        return device_info(0).total_memory
    except Exception:  # noqa: BLE001 - any failure to reach the device means "unknown"; the plan says so
        return None


@dataclass(frozen=True)
class Budget:
    """How much memory a run may use, and why."""

    nbytes: int
    source: str

    @classmethod
    def resolve(cls, max_memory: str | int | None, backend: str = "ort-cpu") -> Budget:
        """``--max-memory`` if given, else :data:`DEFAULT_SHARE` of the available RAM (of the GPU's memory on a GPU
        backend, where it can be read; the source says which)."""
        if max_memory is not None:
            return cls(parse_size(max_memory), "--max-memory")
        share = f"{DEFAULT_SHARE:.0%}"
        if backend not in ("ort-cpu", "auto"):
            gpu = gpu_memory()
            if gpu is not None:
                return cls(int(gpu * DEFAULT_SHARE), f"{share} of the GPU's {format_size(gpu)}")
        ram = available_ram()
        return cls(int(ram * DEFAULT_SHARE), f"{share} of the available RAM ({format_size(ram)})")


@lru_cache(maxsize=1)
def _card() -> dict:
    try:
        return json.loads(CARD_PATH.read_text())
    except (OSError, ValueError):
        return {}


def graph_cost(path: str | os.PathLike) -> MemoryCost:
    """The measured cost of a shipped graph (by its file name, ``bank.onnx``), or :data:`UNMEASURED` for any other."""
    p = Path(path).resolve()
    shipped = CARD_PATH.parent in p.parents
    entry = _card().get("graphs", {}).get(p.name) if shipped else None
    if not entry:
        return UNMEASURED
    return MemoryCost(int(entry["fixed_bytes"]), float(entry["bytes_per_pixel"]),
                      f"measured ({entry.get('measured', 'tools/measure_memory.py')})")


@dataclass
class Plan:
    """How one image runs.

    Attributes:
        mode: ``"whole"`` (the graph on the whole image), ``"tiled"`` or ``"refused"``.
        height, width: the image's size.
        estimated_peak: bytes of the chosen mode's estimated peak RSS (the whole run's where refused).
        budget: bytes allowed; ``budget_source`` says why.
        cost: where the graph's cost comes from.
        tile: the tile side (tiled), ``overlap`` its overlap, ``tiles`` their count, ``thumbnail`` the statistics'
            thumbnail side.
        largest_fitting: ``"WxH"`` of the largest image of this aspect that runs (refused only).
        measured_peak: bytes of the process's peak RSS after the run (filled by the pipeline).
    """

    mode: str
    height: int
    width: int
    estimated_peak: int
    budget: int
    budget_source: str
    cost: str
    tile: int | None = None
    overlap: int | None = None
    tiles: int | None = None
    thumbnail: int | None = None
    largest_fitting: str | None = None
    measured_peak: int | None = None

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if v is not None}
        d["estimated_peak_mib"] = round(self.estimated_peak / (1 << 20))
        d["budget_mib"] = round(self.budget / (1 << 20))
        if self.measured_peak is not None:
            d["measured_peak_mib"] = round(self.measured_peak / (1 << 20))
        return d

    def refusal(self, what: str) -> MemoryBudgetError:
        return MemoryBudgetError(
            f"{self.width}x{self.height}: {what} needs about {format_size(self.estimated_peak)}, over the memory "
            f"budget of {format_size(self.budget)} ({self.budget_source}); the largest this size fits is "
            f"{self.largest_fitting} (use --max-size, or raise --max-memory)")


def whole_peak(cost: MemoryCost, height: int, width: int) -> int:
    return cost.peak(height * width) + IMAGE_BYTES_PER_PIXEL * height * width


def largest_fitting(cost: MemoryCost, budget: int, height: int, width: int) -> str:
    """``"WxH"``: the image of ``height x width``'s aspect, scaled down so that :func:`whole_peak` fits ``budget``."""
    pixels = max(0, int((budget - cost.fixed) / (cost.per_pixel + IMAGE_BYTES_PER_PIXEL)))
    s = min(1.0, math.sqrt(pixels / (height * width)))
    return f"{max(0, math.floor(width * s))}x{max(0, math.floor(height * s))}"


def peak_rss() -> int:
    """Bytes of this process's peak resident set so far (``ru_maxrss``, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def check_whole(cost: MemoryCost, budget: Budget, height: int, width: int) -> Plan:
    """The plan of a pipeline with no bounded path: ``"whole"`` if it fits, else ``"refused"``."""
    peak = whole_peak(cost, height, width)
    if peak <= budget.nbytes:
        return Plan("whole", height, width, peak, budget.nbytes, budget.source, cost.source)
    return Plan("refused", height, width, peak, budget.nbytes, budget.source, cost.source,
                largest_fitting=largest_fitting(cost, budget.nbytes, height, width))


def require_fits(cost: MemoryCost, budget: Budget, height: int, width: int, what: str) -> Plan:
    """:func:`check_whole`, raising its refusal where it does not fit.

    Raises:
        MemoryBudgetError: one line naming the estimate, the budget and the largest size that fits.
    """
    plan = check_whole(cost, budget, height, width)
    if plan.mode == "refused":
        raise plan.refusal(what)
    return plan
