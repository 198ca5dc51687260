"""Load numbered files from a slow share with read-ahead in the direction of travel."""

from ._diskcache import DiskStats
from ._errors import LoaderClosedError
from ._image_sequence import ImageSequence
from ._images import load_image
from ._loader import PrefetchingLoader
from ._sequence import open_sequence
from ._slow_share import SimulatedShare
from ._stats import LoaderStats
from ._tiers import TieredLoader, TieredStats, chain

__all__ = [
    "DiskStats",
    "ImageSequence",
    "LoaderClosedError",
    "LoaderStats",
    "PrefetchingLoader",
    "SimulatedShare",
    "TieredLoader",
    "TieredStats",
    "chain",
    "load_image",
    "open_sequence",
]
__version__ = "0.1.0"
