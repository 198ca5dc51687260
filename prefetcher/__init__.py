"""Load numbered files from a slow share with read-ahead in the direction of travel."""

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
from ._sequence import open_sequence
from ._slow_share import SimulatedShare
from ._stats import LoaderStats

__all__ = [
    "ChunkReport",
    "FrameFailure",
    "LoaderClosedError",
    "LoaderStats",
    "MapFramesError",
    "MapReport",
    "PrefetchingLoader",
    "SimulatedShare",
    "load_image",
    "map_frames",
    "map_frames_report",
    "open_sequence",
]
__version__ = "0.1.0"
