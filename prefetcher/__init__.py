"""Load numbered files from a slow share with read-ahead in the direction of travel."""

from ._errors import LoaderClosedError
from ._images import load_image
from ._loader import PrefetchingLoader
from ._numbering import Numbering
from ._sequence import ImageSequence, open_sequence
from ._slow_share import SimulatedShare
from ._stats import LoaderStats

__all__ = [
    "ImageSequence",
    "LoaderClosedError",
    "LoaderStats",
    "Numbering",
    "PrefetchingLoader",
    "SimulatedShare",
    "load_image",
    "open_sequence",
]
__version__ = "0.1.0"
