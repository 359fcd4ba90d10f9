"""Identity: the dlib-ResNet port against dlib itself, framing, similarity, verification AUC."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from faceinpaint import assets
from faceinpaint.identity import (CELEBA_FRAMING, Framing, crop_box, embed, identity_similarity, load_identity_net,
                                  pair_scores, verification_auc)
from faceinpaint.pretrained.facerec import load_face_recognition_net

FACES = [1, 2, 5, 6, 7, 8]  # CelebA ids; dlib's HOG detector finds each of them


def _celeba(i: int) -> np.ndarray:
    return np.asarray(Image.open(assets.path("celeba999") / f"{i:06d}.jpg").convert("RGB"))


def _to_tensor(arr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(arr)).permute(2, 0, 1).float()[None] / 127.5 - 1


@pytest.fixture(scope="module")
def dlib_reference():
    """dlib's own 150×150 chips (5-point alignment) and descriptors for a few CelebA faces."""
    import dlib

    det = dlib.get_frontal_face_detector()
    sp = dlib.shape_predictor(str(assets.path("dlib_landmarks5")))
    rec = dlib.face_recognition_model_v1(str(assets.path("dlib_face_recognition")))
    chips, descs, squares = [], [], []
    for i in FACES:
        img = _celeba(i)
        dets = det(img, 1)
        assert len(dets) >= 1, f"no face found in {i:06d}.jpg"
        chip = dlib.get_face_chip(img, sp(img, dets[0]), size=150, padding=0.25)
        chips.append(_to_tensor(chip))
        descs.append(np.array(rec.compute_face_descriptor(chip)))
        square = Image.fromarray(img[20:198]).resize((256, 256), Image.BICUBIC)  # our CelebA crop
        squares.append(_to_tensor(np.asarray(square)))
    return torch.cat(chips), torch.tensor(np.array(descs), dtype=torch.float32), torch.cat(squares)


def test_port_matches_dlib_descriptors(dlib_reference):
    chips, ref, _ = dlib_reference
    net = load_face_recognition_net()
    with torch.no_grad():
        ours = net(chips)
    cos = identity_similarity(ours, ref)
    assert cos.min() >= 0.999, cos
    # same scale as dlib's raw descriptors too (not only the direction)
    assert torch.allclose(ours.norm(dim=1), ref.norm(dim=1), rtol=0.01)


def test_celeba_framing_approximates_dlib_chips(dlib_reference):
    _, ref, squares = dlib_reference
    net, name = load_identity_net()
    assert "dlib" in name
    with torch.no_grad():
        emb = net(squares)
    assert torch.allclose(emb.norm(dim=1), torch.ones(len(emb)), atol=1e-5)
    own = identity_similarity(emb, torch.nn.functional.normalize(ref, dim=1))
    assert own.mean() >= 0.98, own
    # and it is closer to its own dlib descriptor than to any other face's
    sims = emb @ torch.nn.functional.normalize(ref, dim=1).t()
    assert (sims.argmax(dim=1) == torch.arange(len(emb))).all()


def test_identity_net_is_differentiable():
    net, _ = load_identity_net()
    net = net.double()
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(1, 3, 128, 128, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    target = torch.nn.functional.normalize(torch.randn(1, 128, generator=g, dtype=torch.float64), dim=1)
    loss = lambda img: 1 - (net(img) * target).sum()  # EXE-GAN's identity loss 1 − cos
    (grad,) = torch.autograd.grad(loss(x), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # directional derivative agrees with central finite differences
    v = torch.randn(x.shape, generator=g, dtype=torch.float64)
    eps = 1e-7  # small: ReLU and max-pool kinks are everywhere on a random image
    with torch.no_grad():
        fd = (loss(x + eps * v) - loss(x - eps * v)) / (2 * eps)
    assert torch.allclose((grad * v).sum(), fd, rtol=1e-4, atol=1e-8)


def test_crop_box_geometry():
    img = torch.arange(100.0).view(1, 1, 10, 10).repeat(1, 3, 1, 1)
    out = crop_box(img, Framing(cx=0.5, cy=0.5, side=0.4), size=4)
    assert torch.equal(out, img[..., 3:7, 3:7])
    # a box leaving the image is zero-padded in dlib's pixel space (= −1 here)
    out = crop_box(img, Framing(cx=0.1, cy=0.1, side=0.4), size=4)
    assert (out[..., :1, :] == -1).all() and (out[..., :, :1] == -1).all()
    assert torch.equal(out[..., 1:, 1:], img[..., 0:3, 0:3])
    assert crop_box(img, None, size=10) is img
    assert 0 < CELEBA_FRAMING.side < 1


def test_identity_similarity_and_pair_scores_by_hand():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[0.0, 2.0], [2.0, 2.0]])
    assert torch.allclose(identity_similarity(a, b), torch.tensor([0.0, 1.0]))
    e = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    scores, same = pair_scores(e, [0, 1, 0])
    # pairs (0,1), (0,2), (1,2)
    assert np.allclose(scores, [0.0, 2 ** -0.5, 2 ** -0.5])
    assert same.tolist() == [0, 1, 0]


def test_verification_auc_by_hand():
    # pairs: (0,1) same s=1, (0,2) diff s=0, (0,3) diff s=0.6, (1,2) diff s=0, (1,3) diff s=0.6, (2,3) same s=0.8
    e = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    labels = [0, 0, 1, 1]
    # positives {1, 0.8} beat all negatives {0, 0.6, 0, 0.6}: AUC = 1
    assert verification_auc(e, labels) == pytest.approx(1.0)
    # labels 0,1,1,0: positives (0,3)=0.6, (1,2)=0; negatives 1, 0, 0.6, 0.8.
    # 0.6 beats 0, ties 0.6 (½); 0 ties 0 (½): (1 + ½ + ½) / 8 = 0.25
    assert verification_auc(e, [0, 1, 1, 0]) == pytest.approx(0.25)
    from sklearn.metrics import roc_auc_score
    scores, same = pair_scores(e, [0, 1, 1, 0])
    assert verification_auc(e, [0, 1, 1, 0]) == pytest.approx(roc_auc_score(same, scores))
    with pytest.raises(ValueError):
        verification_auc(e, [0, 1, 2, 3])


def test_olivetti_verification_auc(tmp_path):
    from sklearn.datasets import fetch_olivetti_faces

    (tmp_path / "olivetti_py3.pkz").symlink_to(assets.path("olivetti"))
    ds = fetch_olivetti_faces(data_home=tmp_path, download_if_missing=False)
    faces = torch.from_numpy(ds.images).float()[:, None].repeat(1, 3, 1, 1) * 2 - 1  # 64×64 gray → RGB
    net, _ = load_identity_net(framing=None)  # Olivetti faces are already framed like chips
    emb = embed(net, faces, progress=False)
    auc = verification_auc(emb, ds.target)
    print(f"Olivetti verification AUC = {auc:.4f}")
    assert auc >= 0.90
