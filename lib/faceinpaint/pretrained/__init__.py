"""Frozen feature networks ported from offline assets, and their loaders.

Nothing here is trained: each module rebuilds a published network in PyTorch and loads its
weights from a file that ``faceinpaint.assets`` fetches (or the official weights, where the
user has them), so every paper can use it as a fixed feature extractor or metric.

* :mod:`.vgg` — VGG19/VGG16 trunks (perceptual and style losses, the VGG19 distance);
* :mod:`.inception` — the TF-FID Inception-v3 (FID, U-IDS/P-IDS);
* :mod:`.facerec` — dlib's face-recognition ResNet (identity embeddings);
* :mod:`.expression` — face-api's expression net (P(happy) and the other six);
* :mod:`.tfjs` — the reader for face-api's tfjs weight files;
* :mod:`.frozen` — the base class that keeps a network in eval mode without gradients.
"""
