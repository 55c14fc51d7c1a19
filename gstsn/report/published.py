"""Published CASIA-B reference numbers (from the spec, ``shared/spec/models.md``), shown beside real runs only.

They are never run here: the report labels them "published, not run here" and shows them only next to runs whose
``synthetic`` flag is false. Protocol: CASIA-B LT (train 001-074, test 075-124), gallery NM#1-4, identical views
excluded, rank-1 % averaged over the 11 probe views.
"""

from __future__ import annotations

from dataclasses import dataclass

PUBLISHED_LABEL = "published, not run here"
PUBLISHED_PROTOCOL = (
    "CASIA-B LT (train 001-074, test 075-124), gallery NM#1-4, identical views excluded, mean rank-1 % over the "
    "11 probe views, each paper's own training schedule and distance"
)


@dataclass(frozen=True)
class PublishedResult:
    """One published rank-1 row (percent) and where it comes from."""

    model: str
    nm: float
    bg: float
    cl: float
    source: str

    def value(self, condition: str) -> float:
        return {"NM": self.nm, "BG": self.bg, "CL": self.cl}[condition]


PUBLISHED: tuple[PublishedResult, ...] = (
    PublishedResult("GaitSet", 95.0, 87.2, 70.4, "GaitSet, AAAI 2019"),
    PublishedResult("GaitSet", 96.1, 90.8, 70.3, "GaitSet, TPAMI version"),
    PublishedResult("GaitSet", 95.8, 90.0, 75.4, "OpenGait model zoo reproduction"),
    PublishedResult("GaitPart", 96.1, 90.7, 78.7, "OpenGait model zoo"),
    PublishedResult("GaitGL", 97.4, 94.5, 83.8, "OpenGait model zoo"),
    PublishedResult("GaitBase", 97.6, 94.0, 77.4, "OpenGait model zoo"),
    PublishedResult("GSTSN", 97.52, 89.6, 76.3, "the seed paper (abstract)"),
)
