"""LaFIn presets: table 3's ablation presets and the file names they export to."""


from faceinpaint.methods import lafin as L


def test_ablation_presets_and_their_file_names():
    for scale in ("paper", "cpu", "smoke"):
        base = L.preset_config(scale)
        nol, noa = L.preset_config(f"{scale}_nolandmarks"), L.preset_config(f"{scale}_noattention")
        assert (nol.use_landmarks, nol.use_attention) == (False, True)
        assert (noa.use_landmarks, noa.use_attention) == (True, False)
        for v in (nol, noa):  # same inpainting stage budget and nets as the full model of that scale
            assert (v.steps, v.batch_size, v.g_channels, v.image_size, v.lr) == \
                (base.steps, base.batch_size, base.g_channels, base.image_size, base.lr)
    assert L.preset_config("cpu_noattention").predictor_from == "checkpoints/lafin_cpu.pt"
    assert L.preset_config("smoke_noattention").predictor_from is None
    assert L.inference_name("cpu") == "lafin_cpu.pt"
    assert L.inference_name("cpu_nolandmarks") == "lafin_nolandmarks_cpu.pt"
    assert L.inference_name("cpu_noattention") == "lafin_noattention_cpu.pt"
    assert L.shipped_checkpoint("noattention").name == "lafin_noattention_cpu.pt"
    assert L.shipped_checkpoint().name == "lafin_cpu.pt"
