"""benchmarks/fidelity.py on a few tiny images: what must hold between the authors' mixing and keras-hsmix's.

No timing is asserted. The full-size figures are in docs/fidelity.md.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import fidelity

SMALL = fidelity.Settings(images=8, size=64, batch=4, n_segments=(20, 40), seed=0, jit_compile=False)


@pytest.fixture(scope="module")
def measured() -> fidelity.Measured:
    return fidelity.measure(SMALL)


def test_scrambled_hwc_is_a_reshape_of_the_channels_first_tensor():
    image = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)  # [H, W, C]
    scrambled = fidelity.scrambled_hwc(image)
    assert scrambled.shape == image.shape
    # Pixel (0, 0) of what SLIC sees holds the first three values of the red plane, not one RGB pixel.
    np.testing.assert_array_equal(scrambled[0, 0], image[0, :, 0])
    assert not np.array_equal(scrambled, image)


def test_area_weighting_favours_large_superpixels_over_salient_ones():
    ids = np.array([[0, 0, 0, 1]])
    ratio = np.array([[0.5, 0.5, 0.5, 1.0]])
    # Sum over the superpixel / whole area: 1.5 / 4 > 1 / 4, so the big, less salient region gets λ = 1.
    np.testing.assert_allclose(fidelity.region_lambda(ids, ratio, "area"), [[1, 1, 1, 0]], atol=1e-4)
    # The true mean ranks by saliency.
    np.testing.assert_allclose(fidelity.region_lambda(ids, ratio, "mean"), [[0, 0, 0, 1]], atol=1e-4)


def test_pasted_area_is_near_p_on_both_sides(measured):
    assert abs(measured.mean("area_theirs") - SMALL.p) < 0.15
    assert abs(measured.mean("area_ours") - SMALL.p) < 0.15


def test_their_area_weighted_lambda_is_below_our_true_mean(measured):
    assert measured.mean("lam_area_on_ours") < measured.mean("lam_ours")  # same inputs, aggregation only
    assert measured.mean("lam_theirs") < measured.mean("lam_ours")


def test_the_true_mean_recomputed_in_numpy_reproduces_softmix(measured):
    assert measured.values["lam_check_maxdiff"].max() < 1e-3


def test_beta_lambda_has_mean_one_half_on_both_sides(measured):
    assert abs(measured.mean("lam_theirs_beta") - 0.5) < 0.15
    assert abs(measured.mean("lam_ours_beta") - 0.5) < 0.15


def test_scrambled_slic_misses_contours_and_regions(measured):
    assert measured.mean("recall_theirs") < measured.mean("recall_ours")
    assert measured.mean("recall_theirs") < measured.mean("recall_unscrambled")
    assert measured.mean("count_theirs") < measured.mean("count_ours") <= measured.mean("asked")


def test_float32_saliency_is_unrelated_to_the_8bit_map_and_ours_equals_it(measured):
    assert abs(measured.mean("sal_corr_theirs")) < 0.3
    assert measured.values["sal_corr_ours"].min() > 0.9999
    assert measured.values["sal_maxdiff_ours"].max() < 1e-5
    assert measured.mean("const_theirs") == pytest.approx(0.25, abs=0.01)
    assert measured.mean("const_ours") == 0.0 == measured.mean("const_8bit")


def test_command_prints_every_row_and_repeats_with_a_seed(capsys):
    argv = ["--images", "4", "--size", "32", "--n-segments", "8", "12", "--seed", "3"]
    assert fidelity.main(argv) == 0
    first = capsys.readouterr().out
    for row in ("pasted area", "soft λ per pixel", "Beta(1, 1)", "superpixels obtained", "boundary recall",
                "correlation with OpenCV", "constant image"):
        assert row in first
    assert fidelity.main(argv) == 0
    assert capsys.readouterr().out == first


@pytest.mark.parametrize("argv", [["--images", "6", "--batch", "4"], ["--p", "1.5"], ["--n-segments", "9", "3"],
                                  ["--data", "no/such/folder"]])
def test_command_refuses_bad_arguments(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        fidelity.main(argv)
    assert exit_info.value.code == 2
    assert "error: --" in capsys.readouterr().err
