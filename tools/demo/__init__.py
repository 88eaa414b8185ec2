"""The demo city: a deterministic, realistic city of LPG cylinders written through the real ledger.

    from tools.demo import SIZES, build_city
    build = build_city(ledger, SIZES["small"], seed=7)
    build.showcase()          # trace codes worth a look, one per planted kind
    build.truth               # the planted anomalies, with their event ids

docs/demo.md describes the city, its knobs and every planted anomaly.
"""

from .anomalies import Plant, write_truth
from .build import CityBuild, build_city
from .config import ANOMALY_KINDS, DEFAULT_NOW, MODELS, SIZES, TAMPER_KINDS, CityConfig, ModelSpec

__all__ = [
    "ANOMALY_KINDS", "DEFAULT_NOW", "MODELS", "SIZES", "TAMPER_KINDS",
    "CityBuild", "CityConfig", "ModelSpec", "Plant", "build_city", "write_truth",
]
