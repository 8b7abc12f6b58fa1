"""Model registry."""

from datadiet.models.registry import MODELS, build_model, check_model, model_names
from datadiet.models.user import is_user_model, source_hash

__all__ = ["MODELS", "build_model", "check_model", "is_user_model", "model_names", "source_hash"]
