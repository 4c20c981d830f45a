"""triops: one self-hosted platform for MLOps, LLMOps and AIOps."""

__version__ = "0.1.0"
