"""Impressions: the record of one evaluation, in the official field names."""

from __future__ import annotations

from typing import NamedTuple


class Impression(NamedTuple):
    """Field names and order as the official ``splitio.models.impressions.Impression``."""

    matching_key: str
    feature_name: str
    treatment: str
    label: str | None
    change_number: int | None
    bucketing_key: str | None
    time: int
    previous_time: int | None = None
    properties: str | None = None
