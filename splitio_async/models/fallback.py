"""Fallback treatments: what a user wants instead of ``control`` (official 10.5+ config)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

_LOGGER = logging.getLogger("splitio_async.config")

_TREATMENT_RE = re.compile(r"^[0-9]+[.a-zA-Z0-9_-]*$|^[a-zA-Z]+[a-zA-Z0-9_-]*$")
_MAX_LENGTH = 100


@dataclass(frozen=True, slots=True)
class FallbackTreatment:
    treatment: str
    config: str | None = None


@dataclass(frozen=True, slots=True)
class FallbackTreatmentsConfiguration:
    global_fallback_treatment: FallbackTreatment | str | None = None
    by_flag_fallback_treatment: dict[str, FallbackTreatment | str] | None = field(default=None)


def _valid(value: Any) -> FallbackTreatment | None:
    if isinstance(value, str):
        value = FallbackTreatment(value)
    if not isinstance(value, FallbackTreatment):
        _LOGGER.warning(
            "Config: Fallback treatment instance should be FallbackTreatment, input is discarded"
        )
        return None
    if not isinstance(value.treatment, str):
        _LOGGER.warning("Config: Fallback treatment value should be str type, input is discarded")
        return None
    if not _TREATMENT_RE.match(value.treatment):
        _LOGGER.warning("Config: Fallback treatment should match regex %s", _TREATMENT_RE.pattern)
        return None
    if len(value.treatment) > _MAX_LENGTH:
        _LOGGER.warning(
            "Config: Fallback treatment size should not exceed %s characters", _MAX_LENGTH
        )
        return None
    return value


@dataclass(frozen=True, slots=True)
class Fallbacks:
    """Validated fallback treatments, resolved per flag at evaluation time."""

    global_treatment: FallbackTreatment | None = None
    by_flag: dict[str, FallbackTreatment] = field(default_factory=dict)

    @classmethod
    def from_config(cls, raw: Any) -> Fallbacks:
        if raw is None:
            return cls()
        if not isinstance(raw, FallbackTreatmentsConfiguration):
            _LOGGER.warning(
                "Config: fallbackTreatments parameter should be of "
                "FallbackTreatmentsConfiguration type, input is discarded"
            )
            return cls()
        global_treatment = None
        if raw.global_fallback_treatment is not None:
            global_treatment = _valid(raw.global_fallback_treatment)
            if global_treatment is None:
                _LOGGER.warning("Config: global fallbacktreatment parameter is discarded.")
        by_flag: dict[str, FallbackTreatment] = {}
        for name, value in (raw.by_flag_fallback_treatment or {}).items():
            valid = _valid(value) if isinstance(name, str) and _TREATMENT_RE.match(name) else None
            if valid is None:
                _LOGGER.warning(
                    "Config: fallback treatment parameter for feature flag %s is discarded.", name
                )
                continue
            by_flag[name] = valid
        return cls(global_treatment, by_flag)

    def resolve(self, flag_name: str, label: str | None) -> tuple[str, str | None, str | None]:
        """``(treatment, config, label)`` for a flag that came out ``control``."""
        chosen = self.by_flag.get(flag_name) or self.global_treatment
        if chosen is None:
            return "control", None, label
        return chosen.treatment, chosen.config, None if label is None else "fallback - " + label
