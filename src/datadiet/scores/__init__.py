"""Per-example scores. Convention for every score: **higher = harder = more important = kept first**.

Functional core (arrays in, arrays out; the model is scored in eval mode and its mode, parameters
and gradients are left as they were):

* :func:`el2n`, :func:`grand`, :func:`loss`, :func:`margin` (probabilities, as in the data-diet
  code) and :func:`logit_margin` (both negated, so higher = harder),
  :func:`input_norm`, :func:`random_scores`;
* :class:`ForgettingHook` and :class:`AUMHook` count over training through the trainer's batch hooks;
* the method registry (:data:`METHODS`), ``METHOD@T`` names and :func:`seed_agreement`.

Scoring *runs* (train K seeds to epoch t, score, average, cache) are jobs of the experiments layer:
:func:`datadiet.experiments.score_dataset`.
"""

from datadiet.scores.basic import (
    el2n,
    el2n_from_logits,
    input_norm,
    logit_margin,
    loss,
    loss_and_error,
    margin,
    margin_from_logits,
    random_scores,
)
from datadiet.scores.dynamics import AUMHook, ForgettingHook
from datadiet.scores.grand import grand, grand_loop

__all__ = [
    "AUMHook",
    "ForgettingHook",
    "el2n",
    "el2n_from_logits",
    "grand",
    "grand_loop",
    "input_norm",
    "logit_margin",
    "loss",
    "loss_and_error",
    "margin",
    "margin_from_logits",
    "random_scores",
]

from datadiet.scores.methods import (
    BASELINES,
    METHODS,
    MODEL_METHODS,
    TRAINING_DYNAMICS,
    parse_method,
    scored_at,
    seed_agreement,
)

__all__ += ["BASELINES", "TRAINING_DYNAMICS", "METHODS", "MODEL_METHODS", "parse_method", "scored_at", "seed_agreement"]
