"""Model registry."""

from datadiet.models.registry import MODELS, build_model, model_names

__all__ = ["MODELS", "build_model", "model_names"]
