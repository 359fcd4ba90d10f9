"""Yang et al. — LaFIn: generative landmark guided face inpainting.

Two modules trained **separately** (paper § 2.3; ``shared/papers/lafin_landmark_guided.md``):

1. the landmark predictor G_L (§ 2.1, table 6): masked face → 68 landmarks, eq. (1);
2. the inpainter G_P + D (§ 2.2, tables 7–8): masked face + landmark channel → face,
   eq. (2)–(7), trained with the **ground-truth** landmarks as the paper does.

At inference the predictor's landmarks (or given ones, or an exemplar's aligned to the
input) condition the inpainter.

>>> from faceinpaint import methods
>>> m = methods.get("lafin")                                   # checkpoints/lafin_cpu.pt
>>> out = m.inpaint(image, hole)                                # predicted landmarks
>>> out = m.inpaint(image, hole, Guide(landmarks=lm))           # user landmarks (input pixels)
>>> out = m.inpaint(image, hole, Guide(exemplar=face2))         # face2's landmarks, aligned
>>> m.last.landmarks, m.last.attention                          # what was used, for plots

Conventions at the boundary with the authors' code (their images are in ``[0, 1]``, ours
in ``[-1, 1]``; their ``mask`` is 1 on the hole, as our ``hole``):

* the masked input fills holes with white: ``1`` in ``[0, 1]`` = ``+1`` here;
* the generator's ``(tanh + 1)/2`` in ``[0, 1]`` is ``tanh`` in ``[-1, 1]``;
* eq. (2) and (5) are computed on images mapped to ``[0, 1]`` (× ½ of the ``[-1, 1]`` value),
  so that λ_tv and the pixel term keep the weight they had relative to the others;
* the style term's ``Î ∘ M`` is taken in ``[0, 1]`` (black outside the hole), i.e.
  ``(x + 1) ⊙ hole − 1`` here — not ``x ⊙ hole``, which would be mid-grey.

Where everything is (the same rooms in every paper's folder, ``methods/README.md``):

* :mod:`.config` — :class:`LaFInConfig`, the presets and table 3's ablation presets;
* :mod:`.networks` — G_L (table 6), G_P (table 8), D (table 7), the attention block, the inputs;
* :mod:`.losses` — eq. (1), eq. (2)–(7) and the VGG19 feature scaling;
* :mod:`.training` — the two stages as Trainer tasks, :func:`fit`, :func:`export_inference`;
* :mod:`.inpainter` — :class:`LaFIn`, the Inpainter, and its loaders;
* :mod:`.experiments` — table 3, fig. 8, section 4 at CPU scale (imported on demand).
"""
from __future__ import annotations

from .config import (ABLATIONS, METHOD, PRESETS, STAGES, TRAIN_HINT, LaFInConfig, inference_name, preset_config,
                     shipped_checkpoint)
from .inpainter import LaFIn, LaFInResult, build, default_checkpoint, from_model_pixels, load_nets, to_model_pixels
from .losses import (CAFFE_FEATURE_SCALE, TORCHVISION_FEATURE_SCALE, LossFeatures, generator_losses, landmark_loss,
                     loss_features, loss_ramp, style_region)
from .networks import (Discriminator, InpaintGenerator, LandmarkPredictor, ShortLongTermAttention, build_discriminator,
                       build_generator, build_predictor, landmark_channel, masked_input)
from .training import (InpaintTask, LandmarkTask, default_dataset, export_inference, fit, fit_stage, generator_lr,
                       hflip_batch, make_preview, predictor_source, set_generator_phase, train, training_holes)

__all__ = [
    "METHOD", "STAGES", "TRAIN_HINT", "CAFFE_FEATURE_SCALE", "TORCHVISION_FEATURE_SCALE", "LaFInConfig", "PRESETS",
    "ABLATIONS", "preset_config", "inference_name", "shipped_checkpoint", "predictor_source",
    "LandmarkPredictor", "InpaintGenerator", "Discriminator", "ShortLongTermAttention",
    "build_predictor", "build_generator", "build_discriminator",
    "masked_input", "landmark_channel", "landmark_loss", "style_region", "LossFeatures", "loss_features",
    "loss_ramp", "generator_lr", "set_generator_phase", "generator_losses", "hflip_batch", "training_holes",
    "LandmarkTask", "InpaintTask", "default_dataset", "make_preview", "fit_stage", "fit", "export_inference",
    "train", "LaFInResult", "to_model_pixels", "from_model_pixels", "LaFIn", "default_checkpoint", "load_nets",
    "build",
]
