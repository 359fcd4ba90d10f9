"""EXE-GAN's Inpainter (issue 15, item 6): the composite keeps known pixels at any size, seeds
give the same bytes, the four kinds of diversity (ψ, several exemplars, style mixing, φ) do what
`.last` says, bad exemplars and missing files give one clear line."""
from __future__ import annotations

import pytest
import torch

from faceinpaint.errors import FaceInpaintError
from faceinpaint.methods.base import Guide
from faceinpaint.methods.exegan import inpainter as I
from faceinpaint.methods.exegan import networks as N
from faceinpaint.methods.exegan.config import preset_config


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    cfg = preset_config("smoke")
    G, E = N.build_generator(cfg), N.build_style_encoder(cfg)
    with torch.no_grad():   # make the mapping's mean w non-zero and the noise matter, as after training
        G.mapping.w_avg.normal_()
        for m in G.modules():
            if hasattr(m, "strength"):
                m.strength.fill_(0.3)
    return I.ExeGAN(G, E, size=cfg.image_size)


def _inputs(n=2, h=64, w=64, seed=1):
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(n, 3, h, w, generator=g) * 2 - 1
    hole = torch.zeros(n, 1, h, w)
    hole[:, :, h // 4: 3 * h // 4, w // 5: 4 * w // 5] = 1
    ex = torch.rand(n, 3, 48, 48, generator=g) * 2 - 1
    return img, hole, ex


@pytest.mark.parametrize("hw", [(64, 64), (50, 70), (129, 97)])
def test_known_pixels_are_bit_identical_at_any_size(model, hw):
    img, hole, ex = _inputs(h=hw[0], w=hw[1])
    out = model.inpaint(img, hole, Guide(exemplar=ex), seed=3)
    assert out.shape == img.shape
    known = hole == 0
    assert torch.equal(out.expand_as(img)[known.expand_as(img)], img[known.expand_as(img)])
    assert float((out - img).abs()[(hole == 1).expand_as(img)].max()) > 0


def test_same_seed_same_bytes_other_seed_other_fill(model):
    img, hole, ex = _inputs()
    a = model.inpaint(img, hole, Guide(exemplar=ex), seed=7)
    b = model.inpaint(img, hole, Guide(exemplar=ex), seed=7)
    c = model.inpaint(img, hole, Guide(exemplar=ex), seed=8)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(model.inpaint(img, hole, Guide(exemplar=ex)), model.inpaint(img, hole, Guide(exemplar=ex), seed=0))


def test_the_exemplar_code_fills_the_phi_layers(model):
    img, hole, ex = _inputs()
    model.inpaint(img, hole, Guide(exemplar=ex), seed=1)
    last = model.last
    phi = N.phi_mask(model.n_styles, 5)
    assert torch.equal(last.phi, phi) and last.source == "exemplar" and last.seed == 1 and last.psi == 1.0
    w_exe = model.E(ex)
    assert torch.allclose(last.styles[:, phi], w_exe[:, phi]) and torch.equal(last.exemplar_styles, w_exe)
    assert torch.equal(last.styles[:, ~phi], last.stochastic_styles[:, ~phi])           # eq. (1)
    # one exemplar for the whole batch is broadcast
    model.inpaint(img, hole, Guide(exemplar=ex[:1]), seed=1)
    assert torch.equal(model.last.exemplar_styles[0], model.last.exemplar_styles[1])


def test_without_an_exemplar_the_stochastic_style_alone(model):
    img, hole, _ = _inputs()
    model.inpaint(img, hole, seed=2)
    assert model.last.source == "stochastic" and not model.last.phi.any() and model.last.exemplar_styles is None
    assert torch.equal(model.last.styles, model.last.stochastic_styles)


def test_truncation_psi(model):
    img, hole, ex = _inputs()
    model.inpaint(img, hole, Guide(exemplar=ex), seed=2, psi=0.0)
    w_avg = model.G.mapping.w_avg
    assert torch.allclose(model.last.stochastic_styles, w_avg.expand_as(model.last.stochastic_styles))
    model.inpaint(img, hole, Guide(exemplar=ex), seed=2, psi=1.0)
    w1 = model.last.stochastic_styles
    model.inpaint(img, hole, Guide(exemplar=ex), seed=2, psi=0.5)
    assert torch.allclose(model.last.stochastic_styles, w_avg + 0.5 * (w1 - w_avg), atol=1e-6)
    assert model.last.psi == 0.5


def test_several_exemplars_one_output_each(model):
    img, hole, ex = _inputs(n=1)
    exs = [ex, torch.flip(ex, (-1,)), -ex]
    outs = model.inpaint_exemplars(img, hole, exs, seed=4)
    assert len(outs) == 3 and len(model.last) == 3
    assert not torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])
    assert torch.equal(outs[1], model.inpaint(img, hole, Guide(exemplar=exs[1]), seed=4))   # same seed each


def test_style_mixing_at_a_crossover_index(model):
    img, hole, ex = _inputs()
    ex_b = torch.flip(ex, (-1, -2))
    model.inpaint(img, hole, Guide(exemplar=ex), mix_with=ex_b, crossover=6, seed=0)
    w = model.last.exemplar_styles
    wa, wb = model.E(ex), model.E(ex_b)
    assert torch.equal(w[:, :6], wa[:, :6]) and torch.equal(w[:, 6:], wb[:, 6:]) and model.last.crossover == 6
    with pytest.raises(FaceInpaintError, match="crossover"):
        model.inpaint(img, hole, Guide(exemplar=ex), mix_with=ex_b, crossover=99)
    with pytest.raises(FaceInpaintError, match="two exemplars"):
        model.inpaint(img, hole, mix_with=ex_b, crossover=3)


def test_code_tuning_of_phi(model):
    img, hole, ex = _inputs()
    all_ex = [True] * model.n_styles
    model.inpaint(img, hole, Guide(exemplar=ex), phi=all_ex, seed=0)
    assert torch.allclose(model.last.styles, model.E(ex)) and model.last.phi.all()
    with pytest.raises(FaceInpaintError, match="phi"):
        model.inpaint(img, hole, Guide(exemplar=ex), phi=[True, False])


@pytest.mark.parametrize("bad, match", [
    (torch.zeros(1, 1, 32, 32), "RGB"),
    (torch.full((1, 3, 32, 32), float("nan")), "NaN"),
    (torch.full((1, 3, 32, 32), 200.0), r"\[-1, 1\]"),
    (torch.zeros(3, 3, 32, 32), "3 exemplars for 2 images"),
    (torch.zeros(1, 3, 4, 4), "too small"),
])
def test_a_bad_exemplar_gives_one_clear_line(model, bad, match):
    img, hole, _ = _inputs()
    with pytest.raises(FaceInpaintError, match=match) as e:
        model.inpaint(img, hole, Guide(exemplar=bad))
    assert "\n" not in str(e.value)


def test_build_names_the_missing_file_and_the_train_command(tmp_path):
    with pytest.raises(FaceInpaintError) as e:
        I.build(tmp_path / "exegan_cpu.pt")
    msg = str(e.value)
    assert "exegan_cpu.pt" in msg and "faceinpaint train --method exegan" in msg and "\n" not in msg


def test_build_from_exported_files_and_a_missing_style_encoder(tmp_path, model):
    from faceinpaint.io import torch_save
    from faceinpaint.train import CHECKPOINT_FORMAT

    cfg = preset_config("smoke")
    meta = {"exegan_config": cfg.to_dict(), "style_encoder": "exegan_style_encoder_smoke.pt"}
    g_file = tmp_path / "exegan_smoke.pt"
    torch_save({"format": CHECKPOINT_FORMAT, "step": 1, "meta": meta, "nets": {"G_ema": model.G.state_dict()}}, g_file)
    with pytest.raises(FaceInpaintError, match="exegan_style_encoder_smoke.pt") as e:
        I.build(g_file)
    assert "faceinpaint train --method exegan" in str(e.value)
    torch_save({"format": CHECKPOINT_FORMAT, "step": 1, "meta": {"exegan_config": cfg.to_dict()},
                "nets": {"E": model.E.state_dict()}}, tmp_path / "exegan_style_encoder_smoke.pt")
    m = I.build(g_file)
    img, hole, ex = _inputs()
    assert torch.equal(m.inpaint(img, hole, Guide(exemplar=ex), seed=5),
                       model.inpaint(img, hole, Guide(exemplar=ex), seed=5))
    from faceinpaint import methods

    m2 = methods.get("exegan", checkpoint=g_file, psi=0.5)
    assert m2.psi == 0.5 and m2.name == "exegan"


# ============================================================================ experiments' measures
def test_paired_effect_by_hand():
    from faceinpaint.methods.exegan import experiments as X

    e = X.paired_effect([1.0, 2.0, 4.0, float("nan")], [0.0, 1.0, 1.0, 5.0])
    d = [1.0, 1.0, 3.0]                                   # the NaN pair is left out
    se = (sum((x - 5 / 3) ** 2 for x in d) / 2) ** 0.5 / 3 ** 0.5
    assert e.n == 3 and abs(e.mean - 5 / 3) < 1e-12 and abs(e.se - se) < 1e-12 and e.beyond(1.0)
    assert not e.beyond(3.0)


def test_diversity_is_zero_without_any_randomness_and_positive_with_it(model):
    from faceinpaint.methods.exegan import experiments as X

    img, hole, ex = _inputs(n=1)
    quiet = I.ExeGAN(model.G, model.E, size=model.size, noise_mode="none")
    d = X.diversity_vs_psi(quiet, img, hole, ex, seeds=(0, 1, 2), psis=(1.0, 0.0))
    assert d[0.0] == 0.0 and d[1.0] > 0          # ψ = 0 and no noise: every seed gives the same fill


def test_phi_as_layer_indices_and_explicit_build_keywords(model):
    """φ given as indices (the app's slider) equals the bool mask; out-of-range indices are one line;
    build's keywords are explicit, so the app can tell that it takes no 'crossover' of its own."""
    import inspect

    n = model.n_styles
    idx = tuple(range(3, n))
    mask = [i >= 3 for i in range(n)]
    assert torch.equal(model._phi(idx), torch.tensor(mask)) and torch.equal(model._phi(mask), torch.tensor(mask))
    with pytest.raises(FaceInpaintError, match="indices"):
        model._phi((0, n + 2))
    params = inspect.signature(I.build).parameters
    assert "psi" in params and "phi" in params and "crossover" not in params
    assert not any(p.kind is p.VAR_KEYWORD for p in params.values())
