"""gstsn: a benchmark and ablation suite for gait recognition (GaitSet and GSTSN on CASIA-B)."""

__version__ = "0.1.0"
