"""Reference-guided face inpainting with facial attributes (LBAM generator + attribute extractors).

Paper: ``shared/papers/refattr_reference_guided_attributes.md`` (digest and the authors'-code
traps: ``shared/PAPERS.md``, refattr). An LBAM generator (learnable bidirectional attention
maps) completes the masked face from attributes tiled at its bottleneck; an attribute
extractor Ext reads them from a reference face; an auxiliary extractor AE and a WGAN-GP critic
train G to realise them (eq. 1–12).

>>> from faceinpaint import methods
>>> from faceinpaint.methods import Guide
>>> m = methods.get("refattr")                                     # checkpoints/refattr_cpu.pt
>>> out = m.inpaint(image, hole, Guide(exemplar=ref))               # attributes of the reference
>>> out = m.inpaint(image, hole, Guide(attributes={"Smiling": 1.5}))  # given (others: the input's own)
>>> out = m.inpaint(image, hole, Guide(exemplar=ref, attributes=m.parse_attributes(["Male=0"])))
>>> m.last.attributes, m.last.source                                # what G got, and from where

Where everything is (the same rooms in every paper's folder):

* :mod:`.config` — :class:`RefAttrConfig`, the presets and fig. 6's ablation presets;
* :mod:`.networks` — LBAM's layers and G, the critic, Ext (VGG-16 layout) and AE;
* :mod:`.losses` — eq. 9 and eq. 12, the VGG feature scaling of eq. 6–7;
* :mod:`.training` — the Trainer task, masks, the dataset, :func:`fit`, :func:`export_inference`;
* :mod:`.inpainter` — :class:`RefAttr`, ``--attr`` parsing, fig. 3 and fig. 4 helpers, loaders;
* :mod:`.experiments` — fig. 6's table, extractor AUCs, steering and transfer measurements
  (imported on demand).
"""
from __future__ import annotations

from .config import (ABLATIONS, METHOD, PRESETS, TRAIN_HINT, RefAttrConfig, inference_name, preset_config,
                     shipped_checkpoint)
from .inpainter import (RefAttr, RefAttrResult, attributes_tensor, build, default_checkpoint, intensity_sweep,
                        load_nets, parse_attribute_args, pluralistic, random_attributes)
from .losses import (CAFFE_FEATURE_SCALE, TORCHVISION_FEATURE_SCALE, VGG_LAYERS, ScaledFeatures, attribute_loss,
                     inpainting_losses, loss_features, total_loss)
from .networks import (AttributeExtractor, AuxiliaryExtractor, Critic, GaussActivation, LBAMGenerator, mask_update)
from .training import (AttributeFaces, RefAttrTask, build_auxiliary, build_critic, build_extractor, build_generator,
                       default_dataset, export_inference, fit, lower_face_box, make_preview, train, training_holes)

__all__ = [
    "METHOD", "TRAIN_HINT", "RefAttrConfig", "PRESETS", "ABLATIONS", "preset_config", "inference_name",
    "shipped_checkpoint",
    "LBAMGenerator", "GaussActivation", "mask_update", "Critic", "AttributeExtractor", "AuxiliaryExtractor",
    "CAFFE_FEATURE_SCALE", "TORCHVISION_FEATURE_SCALE", "VGG_LAYERS", "ScaledFeatures", "loss_features",
    "attribute_loss", "inpainting_losses", "total_loss",
    "build_generator", "build_critic", "build_extractor", "build_auxiliary", "AttributeFaces", "default_dataset",
    "lower_face_box", "training_holes", "RefAttrTask", "make_preview", "fit", "export_inference", "train",
    "RefAttr", "RefAttrResult", "parse_attribute_args", "attributes_tensor", "random_attributes", "pluralistic",
    "intensity_sweep", "default_checkpoint", "load_nets", "build",
]
