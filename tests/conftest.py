import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def data_ready():
    """Skip-free guard: the prepared data must exist (``make test`` prepares it first)."""
    from faceinpaint.paths import data_root

    root = data_root() / "prepared" / "celeba999"
    if not root.exists():
        pytest.fail(f"prepared data missing at {root}: run `faceinpaint data prepare` (make test does)")
    return root

