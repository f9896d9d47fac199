import numpy as np

from edgebench.export.parity import AS_TIMED, TIGHT, compare


def test_identical_outputs_pass_with_infinite_sqnr():
    x = np.linspace(-1, 1, 100)
    p = compare("a -> b", x, x.copy(), TIGHT)
    assert p.passed and p.max_abs == 0 and p.cosine == 1.0 and p.sqnr_db == float("inf")


def test_sqnr_and_max_abs_match_hand_computation():
    ref = np.array([3.0, 4.0])  # signal energy 25
    cand = np.array([3.0, 4.5])  # noise energy 0.25 -> 20 dB
    p = compare("s", ref, cand, AS_TIMED)
    assert abs(p.sqnr_db - 20.0) < 1e-9
    assert p.max_abs == 0.5
    assert not p.passed  # 20 dB is below the as-timed limit of 30 dB


def test_fp16_sized_error_passes_loose_but_not_tight():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal(1000)
    cand = ref + rng.standard_normal(1000) * 5e-4  # NCNN fp16 storage magnitude
    assert compare("s", ref, cand, AS_TIMED).passed
    assert not compare("s", ref, cand, TIGHT).passed


def test_shape_mismatch_and_nan_fail():
    assert not compare("s", np.zeros(4), np.zeros(5), TIGHT).passed
    assert not compare("s", np.ones(4), np.array([1, np.nan, 1, 1]), TIGHT).passed
