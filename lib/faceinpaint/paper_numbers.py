"""The papers' own numbers for the ablations of refattr and EXE-GAN, as printed (notebook 50).

Literals only, each citing its table or figure in ``shared/papers/``; nothing here is computed.
The other two papers keep theirs beside their experiments: ``methods.wgan_completion.experiments.PAPER_CELEBA``
(tables 1–2) and ``methods.lafin.experiments.PAPER_TABLE3`` / ``PAPER_TABLE4`` / ``PAPER_TABLE5``.
(A shared module: it imports no paper folder.)

Keys use this repository's names: bins ``bin_10_20`` … (``faceinpaint.masks.BIN_NAMES``) and each
paper's variant names (``methods.<paper>.config.ABLATIONS``).
"""
from __future__ import annotations

# ============================================================================ refattr
# Fig. 6 ("Qualitative comparisons with and without specific loss terms", § 4.4) is qualitative:
# the paper prints no number for its loss ablation, only these claims. ``expect`` says which way
# each claim points on the measures notebook 50 computes: "higher" / "lower" = the variant's
# value relative to the full model's.
REFATTR_FIG6_CLAIMS: tuple[dict, ...] = (
    {"variant": "noperceptual", "metric": "vgg19_perceptual", "expect": "higher",
     "quote": "by using perceptual loss and style loss the model learns to produce texture details in the output "
              "without any distortions or blurriness",
     "measure": "VGG19 feature distance to the truth (texture and blur show in VGG features)"},
    {"variant": "nomsssim", "metric": "nme", "expect": "higher",
     "quote": "MS-SSIM loss is a key component of our framework to maintain facial structure",
     "measure": "NME of dlib's landmarks on the completion vs the truth (facial structure)"},
    {"variant": "nomsssim", "metric": "ssim", "expect": "lower",
     "quote": "MS-SSIM loss is a key component of our framework to maintain facial structure",
     "measure": "SSIM of the composite (structural similarity)"},
)

# Table 1 (CelebA-HQ, 256 px, § 4.3): the full model ("Ours") and LBAM — the generator alone, as
# its authors trained it — per mask; our ``noattr`` variant is LBAM trained with this paper's loss
# but without attributes, the closest row we have. "quickdraw" (their Quickdraw masks) has no bin here.
REFATTR_TABLE1: dict[str, dict[str, dict[str, float]]] = {
    "ssim": {"quickdraw": {"full": 0.833, "noattr": 0.821}, "bin_10_20": {"full": 0.811, "noattr": 0.814},
             "bin_20_30": {"full": 0.740, "noattr": 0.744}, "bin_30_40": {"full": 0.660, "noattr": 0.667},
             "bin_40_50": {"full": 0.571, "noattr": 0.583}},
    "lpips": {"quickdraw": {"full": 0.042, "noattr": 0.047}, "bin_10_20": {"full": 0.068, "noattr": 0.057},
              "bin_20_30": {"full": 0.103, "noattr": 0.087}, "bin_30_40": {"full": 0.146, "noattr": 0.126},
              "bin_40_50": {"full": 0.198, "noattr": 0.172}},
    "fid": {"quickdraw": {"full": 24.91, "noattr": 25.79}, "bin_10_20": {"full": 28.53, "noattr": 27.63},
            "bin_20_30": {"full": 35.26, "noattr": 36.51}, "bin_30_40": {"full": 43.29, "noattr": 48.47},
            "bin_40_50": {"full": 56.67, "noattr": 64.40}},
}

# ============================================================================ EXE-GAN
# Table V (§ IV-F-2, "large-scale facial inpainting by exemplars", averaged over 5 runs):
# dataset → variant → (FID ↓, U-IDS ↑, P-IDS ↑), U-/P-IDS as fractions (the paper prints %).
# Rows: (A) w/o SVGL-based L_attr, (B) w/o SVGL-based L_lpips, (C) standard L_attr, (D) standard
# L_lpips, Ours. (C's and D's U-IDS are printed as 8.875 % both.)
EXEGAN_TABLE_V: dict[str, dict[str, tuple[float, float, float]]] = {
    "CelebA-HQ": {"nosvglattr": (9.714, 0.1138, 0.0465), "nosvgllpips": (10.207, 0.0737, 0.0295),
                  "stdattr": (10.433, 0.08875, 0.0335), "stdlpips": (9.804, 0.08875, 0.0425),
                  "full": (9.967, 0.09175, 0.0385)},
    "FFHQ": {"nosvglattr": (4.453, 0.2384, 0.0986), "nosvgllpips": (4.726, 0.2350, 0.0953),
             "stdattr": (4.909, 0.2246, 0.0875), "stdlpips": (4.408, 0.2461, 0.1004),
             "full": (4.353, 0.2433, 0.0992)},
}
# The text's claims about table V (§ IV-F-2), as (variant, claim): what the rows are said to show.
EXEGAN_TABLE_V_CLAIMS: dict[str, str] = {
    "nosvglattr": "comparable quantitative scores (it lowers the attribute similarity to the exemplar)",
    "nosvgllpips": "both the quantitative measures and visual qualities drop dramatically",
    "stdattr": "the quantitative performance also degrades to some extent",
    "stdlpips": "the quantitative scores are comparable to EXE-GAN",
}

__all__ = ["REFATTR_FIG6_CLAIMS", "REFATTR_TABLE1", "EXEGAN_TABLE_V", "EXEGAN_TABLE_V_CLAIMS"]
