"""Errors raised by the geospatial layer.

Each error carries a stable ``key`` and ``params`` so that the application can
render it in the user's language from its catalogs; ``str(error)`` is English.
"""

from __future__ import annotations


class GisError(ValueError):
    key = "gis.error"
    template = "{detail}"

    def __init__(self, **params: object) -> None:
        self.params = params
        super().__init__(self.template.format(**params))


class StakeFormatError(GisError):
    key = "error.stake_format"
    template = "malformed stake number {text!r}: expected e.g. K3+250, k3+250.5, 3+250 or K3+250m"


class UnknownRoadError(GisError):
    key = "error.unknown_road"
    template = "unknown road {code!r}"


class StakeOutOfRangeError(GisError):
    key = "error.stake_out_of_range"
    template = "stake {stake} is beyond road {code} (it runs from {start} to {end})"


class NoRoadInReachError(GisError):
    key = "error.no_road_in_reach"
    template = "no road within {max_distance} m of ({lon}, {lat})"


class RoadFileError(GisError):
    key = "error.road_file"
    template = "{detail}"
