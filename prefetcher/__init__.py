"""Load numbered files from a slow share with read-ahead in the direction of travel."""

from typing import TYPE_CHECKING, Any

from ._diskcache import DiskStats
from ._errors import LoaderClosedError
from ._images import load_image
from ._loader import PrefetchingLoader
from ._map import (
    ChunkReport,
    FrameFailure,
    MapFramesError,
    MapReport,
    map_frames,
    map_frames_report,
)
from ._numbering import Numbering
from ._sequence import ImageSequence, open_sequence
from ._slow_share import SimulatedShare
from ._stats import LoaderStats
from ._tiers import TieredLoader, TieredStats, chain

if TYPE_CHECKING:
    from ._frames import FrameStack

__all__ = [
    "ChunkReport",
    "DiskStats",
    "FrameFailure",
    "FrameStack",
    "ImageSequence",
    "LoaderClosedError",
    "LoaderStats",
    "MapFramesError",
    "MapReport",
    "Numbering",
    "PrefetchingLoader",
    "SimulatedShare",
    "TieredLoader",
    "TieredStats",
    "chain",
    "load_image",
    "map_frames",
    "map_frames_report",
    "open_sequence",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # FrameStack imports numpy: loaded on first use so that `import prefetcher` stays light.
    if name == "FrameStack":
        from ._frames import FrameStack

        return FrameStack
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
