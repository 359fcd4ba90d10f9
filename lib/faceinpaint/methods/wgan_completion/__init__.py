"""Vitoria, Sintes & Ballester — semantic image completion through an adversarial strategy.

Two phases (paper: ``shared/papers/wgan_semantic_completion.md``):

1. learn a face prior: a WGAN-GP (eq. 4, λ = 10) with a residual generator and two critics,
   a global one and a PatchGAN one, both with layer norm (section 3.1);
2. inpaint by searching the latent space (eq. 5–8), then Poisson blending (eq. 9,
   :mod:`faceinpaint.poisson`); with a reference face (``Guide.exemplar``), conditional
   completion (eq. 10–15).

No public code exists: this is the reference implementation. ``yeh`` (:func:`build_yeh`) is
the paper's baseline, Yeh et al. 2017, on the same prior.

>>> from faceinpaint import methods
>>> m = methods.get("wgan_completion")                       # checkpoints/wgan_completion_cpu.pt
>>> out = m.inpaint(image, hole, seed=0)                       # any resolution, composite returned
>>> out = m.inpaint(image, hole, Guide(exemplar=face2))        # eq. 10–15: region from face2

Where everything is (the same rooms in every paper's folder, ``methods/README.md``):

* :mod:`.config` — :class:`WGANCompletionConfig` and its presets; :class:`LatentConfig`,
  :class:`ConditionalConfig` (the search's weights), :func:`yeh_config`;
* :mod:`.networks` — the residual generator, the global and PatchGAN critics (section 3.1);
* :mod:`.losses` — the search's objectives: W of eq. (7), the masked gradients, eq. (5)–(8), (10)–(15);
* :mod:`.training` — the WGAN-GP task for the Trainer, :func:`fit`, :func:`export_inference`;
* :mod:`.inpainter` — the latent search, :class:`WGANCompletion`, :class:`Yeh`, the loaders;
* :mod:`.experiments` — tables 1–2 (the loss ablation) and the comparison with Yeh et al.
"""
from __future__ import annotations

from .config import (METHOD, PRESETS, TRAIN_HINT, ConditionalConfig, LatentConfig, WGANCompletionConfig,
                     preset_config, yeh_config)
from .inpainter import (LatentResult, WGANCompletion, Yeh, build, build_yeh, complete, complete_conditional,
                        default_checkpoint, frozen_eval, load_prior, optimise_latent)
from .losses import (completion_loss, conditional_loss, context_weights, gradient_l1, masked_gradient,
                     reference_weights, weighted_l1)
from .networks import GlobalCritic, Generator, LayerNorm2d, PatchCritic, build_nets
from .training import WGANCompletionTask, default_dataset, export_inference, fit, train

__all__ = [
    "METHOD", "PRESETS", "TRAIN_HINT", "WGANCompletionConfig", "LatentConfig", "ConditionalConfig", "preset_config",
    "yeh_config", "Generator", "GlobalCritic", "PatchCritic", "LayerNorm2d", "build_nets",
    "context_weights", "reference_weights", "masked_gradient", "gradient_l1", "weighted_l1", "completion_loss",
    "conditional_loss", "LatentResult", "frozen_eval", "optimise_latent", "complete", "complete_conditional",
    "WGANCompletion", "Yeh", "default_checkpoint", "load_prior", "build", "build_yeh",
    "WGANCompletionTask", "default_dataset", "fit", "export_inference", "train",
]
