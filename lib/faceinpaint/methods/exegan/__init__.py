"""Lu et al. — EXE-GAN: diverse facial inpainting guided by exemplars.

A multi-style generator (Co-Mod-GAN's encoder + StyleGAN2 decoder, § III-B) takes the masked
face, the mask and a mixed style code ŵ — the exemplar's code E(I_exe) on the φ layers, a
stochastic code f(z) on the others (eq. 1) — and fills the hole (eq. 3). Trained with the
logistic loss + R1 (eq. 4), identity (eq. 5), LPIPS when the exemplar is the face itself
(eq. 6) and the attribute loss in E's space (eq. 7), the last two through SVGL (eq. 10–12).
Paper: ``shared/papers/exegan_exemplar_guided.md``.

The paper's E is a pretrained pSp encoder; offline it is trained here first (three stages:
G_u, an unconditional StyleGAN2; E inverting G_u; then EXE-GAN with E frozen — see
:mod:`.training`).

>>> from faceinpaint import methods
>>> m = methods.get("exegan")                                     # checkpoints/exegan_cpu.pt (+ style encoder)
>>> out = m.inpaint(image, hole, Guide(exemplar=face2), seed=0)   # face2's style in the hole
>>> out = m.inpaint(image, hole, seed=1, psi=0.7)                  # no exemplar: stochastic style alone
>>> outs = m.inpaint_exemplars(image, hole, [a, b, c])             # one output per exemplar
>>> out = m.inpaint(image, hole, Guide(exemplar=a), mix_with=b, crossover=7)   # style mixing
>>> m.last.styles, m.last.phi, m.last.psi                         # what was used

Where everything is (the same rooms in every paper's folder, ``methods/README.md``):

* :mod:`.config` — :class:`ExeGANConfig`, the presets and table V's ablation presets;
* :mod:`.layers` — the pure-PyTorch StyleGAN2 blocks; :mod:`.networks` — G, f, D, E, G_u;
* :mod:`.losses` — SVGL maps, eq. (6)–(8) terms, path length;
* :mod:`.training` — the three stages as Trainer tasks, :func:`fit`, :func:`export_inference`;
* :mod:`.inpainter` — :class:`ExeGAN`, the Inpainter, and its loaders;
* :mod:`.experiments` — table V, steering and diversity measures (imported on demand).
"""
from __future__ import annotations

from .config import (ABLATIONS, METHOD, PRESETS, STAGES, TABLE_V_ROWS, TRAIN_HINT, ExeGANConfig, encoder_name,
                     inference_name, preset_config)
from .inpainter import ExeGAN, ExeGANResult, build, check_exemplar, default_checkpoint, load_nets
from .losses import (ObjectiveWeights, PerceptualTerm, attribute_term, generator_objective, lpips_term,
                     path_length_penalty, svgl_maps)
from .networks import (Discriminator, MultiStyleGenerator, StyleEncoder, UnconditionalGenerator, build_discriminator,
                       build_generator, build_style_encoder, build_unconditional_generator, crossover_styles,
                       exemplar_phi, mix_exemplar_styles, phi_mask)
from .training import (EncoderTask, InpaintTask, PriorTask, default_dataset, exemplar_batch, export_inference, fit,
                       fit_stage, lazy_adam, train, training_holes)

__all__ = [
    "METHOD", "STAGES", "TRAIN_HINT", "PRESETS", "ABLATIONS", "TABLE_V_ROWS", "ExeGANConfig", "preset_config",
    "inference_name", "encoder_name",
    "MultiStyleGenerator", "Discriminator", "StyleEncoder", "UnconditionalGenerator", "build_generator",
    "build_discriminator", "build_style_encoder", "build_unconditional_generator", "phi_mask", "exemplar_phi",
    "mix_exemplar_styles", "crossover_styles",
    "svgl_maps", "PerceptualTerm", "lpips_term", "attribute_term", "ObjectiveWeights", "generator_objective",
    "path_length_penalty",
    "PriorTask", "EncoderTask", "InpaintTask", "lazy_adam", "exemplar_batch", "training_holes", "default_dataset",
    "fit_stage", "fit", "export_inference", "train",
    "ExeGAN", "ExeGANResult", "check_exemplar", "default_checkpoint", "load_nets", "build",
]
