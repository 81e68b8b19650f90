"""Flow-matching VLA (π0-style backbone + action expert, AsyncVLA SFM/rater/AFM inference)."""

from vlash_policy.model.config import BACKBONE_FAMILIES, VLAConfig
from vlash_policy.model.vla import (
    FlowNoise,
    FlowVLA,
    InferenceTiming,
    Observation,
    Prefix,
    SampleResult,
)

__all__ = [
    "BACKBONE_FAMILIES",
    "FlowNoise",
    "FlowVLA",
    "InferenceTiming",
    "Observation",
    "Prefix",
    "SampleResult",
    "VLAConfig",
]
