"""config_from_dict: every preset survives checkpoint/JSON storage and compares equal."""
import json
from dataclasses import dataclass, field

import pytest

from faceinpaint.config import config_from_dict
from faceinpaint.methods import lafin as L
from faceinpaint.methods import wgan_completion as W


@pytest.mark.parametrize("module,name", [(L, n) for n in L.PRESETS] + [(W, n) for n in W.PRESETS])
def test_every_preset_round_trips_through_json(module, name):
    cfg = module.preset_config(name)
    stored = json.loads(json.dumps(cfg.to_dict()))        # tuples → lists, nested configs → dicts
    back = type(cfg).from_dict(stored)
    assert back == cfg


@dataclass
class Inner:
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass
class Outer:
    size: int = 64
    widths: tuple[int, ...] = (8, 16)
    maybe: tuple[int, int] | None = None
    inner: Inner = field(default_factory=Inner)


def test_lists_become_tuples_unknown_keys_drop_missing_keep_defaults():
    got = config_from_dict(Outer, {"widths": [1, 2, 3], "maybe": [4, 5], "inner": {"betas": [0.0, 0.9]},
                                   "removed_in_this_version": 1})
    assert got == Outer(size=64, widths=(1, 2, 3), maybe=(4, 5), inner=Inner((0.0, 0.9)))
    assert isinstance(got.widths, tuple) and isinstance(got.maybe, tuple) and isinstance(got.inner.betas, tuple)
    assert config_from_dict(Outer, {"maybe": None}).maybe is None


def test_pick_preset_and_checkpoint_name_are_every_papers_convention():
    from dataclasses import dataclass

    from faceinpaint.config import checkpoint_name, pick_preset
    from faceinpaint.errors import FaceInpaintError
    from faceinpaint.methods.exegan.config import inference_name as exegan_name
    from faceinpaint.methods.lafin.config import inference_name as lafin_name

    @dataclass
    class C:
        a: int = 1
        b: str = "x"

    presets = {"cpu": lambda: C(2), "smoke": C}
    assert pick_preset(presets, "cpu", "m", b="y") == C(2, "y")
    with pytest.raises(FaceInpaintError, match=r"unknown preset 'gpu' for m \(known: cpu, smoke\)"):
        pick_preset(presets, "gpu", "m")
    assert checkpoint_name("lafin", "cpu") == lafin_name("cpu") == "lafin_cpu.pt"
    assert checkpoint_name("lafin", "cpu_nolandmarks") == lafin_name("cpu_nolandmarks") == "lafin_nolandmarks_cpu.pt"
    assert exegan_name("paper_stdattr") == "exegan_stdattr_paper.pt"
