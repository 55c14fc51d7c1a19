"""Silhouette data: the project's cache, CASIA-B readers, the synthetic generator, splits and sampling.

``open_dataset(spec)`` turns a data spec (``synth``, ``synth:key=value,...``, ``casia-b:PATH`` or a cache directory)
into a :class:`SilhouetteCache`; everything downstream sees only that interface.
"""

from gstsn.data.cache import SilhouetteCache
from gstsn.data.sources import open_dataset

__all__ = ["SilhouetteCache", "open_dataset"]
