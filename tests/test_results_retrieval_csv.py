"""``retrieval.csv``: its columns declared once (``gstsn.results.retrieval_csv``), every float written in full."""

from __future__ import annotations

import csv

from gstsn.results.retrieval_csv import (
    ALL_VIEWS,
    CROSS_VIEW,
    RETRIEVAL_COLUMNS,
    STANDARD,
    retrieval_csv_text,
    write_retrieval_csv,
)


def test_the_file_has_the_declared_columns_and_every_digit(tmp_path):
    rows = [
        [STANDARD, "per_part", "map", "NM", "000", "018", 1 / 3],
        [CROSS_VIEW, "flat", "cv_rank1", "CL", "090", ALL_VIEWS, 50.0],
    ]
    assert retrieval_csv_text(rows) == (
        "protocol,distance,metric,condition,probe_view,gallery_view,value\n"
        "standard,per_part,map,NM,000,018,0.3333333333333333\n"
        "cross_view,flat,cv_rank1,CL,090,all,50.0\n"
    )
    write_retrieval_csv(tmp_path / "retrieval.csv", rows)
    with (tmp_path / "retrieval.csv").open(newline="") as fh:
        back = list(csv.DictReader(fh))
    assert tuple(back[0]) == RETRIEVAL_COLUMNS and float(back[0]["value"]) == 1 / 3
    assert back[1]["gallery_view"] == "all"
