"""The diagnostic figures of one scoring run."""

from __future__ import annotations

from datadiet.data.dataset import Dataset
from datadiet.plots.diagnostics import extreme_examples, score_histograms, score_vs_input_norm
from datadiet.scores.basic import input_norm


def score_figures(dataset: Dataset, result) -> dict:
    """Histogram per class, easiest/hardest examples (image data), score vs input norm with its ρ."""
    folder = result.path.parent
    method = result.config.method
    figs = [str(score_histograms(result.table, dataset.class_names, folder / "score_histograms.png", method=method))]
    if dataset.is_image:
        images = dataset.denormalise(dataset.x_train).numpy()
        figs.append(
            str(extreme_examples(result.table, images, dataset.class_names, folder / "extremes.png", method=method))
        )
    rho = score_vs_input_norm(
        result.scores, input_norm(dataset.x_train), folder / "score_vs_input_norm.png", method=method
    )
    figs.append(str(folder / "score_vs_input_norm.png"))
    return {"figures": figs, "input_norm_spearman": float(rho)}
