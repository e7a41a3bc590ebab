"""Geometric and similarity token matching on hand-built crops."""
import torch

from mmssl_kd.models.utils import (
    geometric_match,
    similarity_match,
    token_centres,
)


def centres(box, flip=False, grid=(2, 2)):
    return token_centres(torch.tensor([box], dtype=torch.float32),
                         torch.tensor([flip]), grid)


def test_centres_and_cell_half_diagonal_by_hand():
    pos, delta = centres((0, 0, 8, 4), grid=(2, 2))
    # cells 4 x 2 px: centres (2, 1), (6, 1), (2, 3), (6, 3), row-major
    assert pos[0].tolist() == [[2, 1], [6, 1], [2, 3], [6, 3]]
    assert delta.item() == (4 ** 2 + 2 ** 2) / 4
    pos, _ = centres((0, 0, 8, 4), flip=True, grid=(2, 2))
    assert pos[0].tolist() == [[6, 1], [2, 1], [6, 3], [2, 3]]


def test_flipped_crop_maps_tokens_mirror_wise():
    """The same box seen flipped: student column j is teacher column
    cols - 1 - j, at distance 0, so every pair counts."""
    grid = (3, 4)
    index, mask = geometric_match(centres((10, 20, 50, 50), True, grid),
                                  centres((10, 20, 50, 50), False, grid))
    rows, cols = grid
    expected = [r * cols + (cols - 1 - c) for r in range(rows)
                for c in range(cols)]
    assert index[0].tolist() == expected
    assert mask.all()


def test_disjoint_crops_give_an_empty_mask():
    index, mask = geometric_match(centres((0, 0, 10, 10)),
                                  centres((50, 50, 70, 70)))
    assert not mask.any()
    assert index.shape == (1, 4)


def test_local_crop_inside_a_global_crop():
    """A 2x2-token local crop over the global crop's top-left 4x4 px: every
    local token lies in the global top-left cell; nearest index 0, and the
    distances are below the global cell's half-diagonal."""
    student = centres((0, 0, 4, 4), grid=(2, 2))    # centres 1 or 3
    teacher = centres((0, 0, 16, 16), grid=(2, 2))  # first centre (4, 4)
    index, mask = geometric_match(student, teacher)
    assert index[0].tolist() == [0, 0, 0, 0]
    assert mask.all()  # max distance^2 = 18 < (8^2 + 8^2) / 4 = 32
    # a 1-token crop centred at (22, 22), outside the global crop: its
    # nearest teacher centre is (12, 12), at 2 * 10^2 = 200 > 32: masked
    far = centres((20, 20, 24, 24), grid=(1, 1))
    index, mask = geometric_match(far, teacher)
    assert index[0].tolist() == [3] and not mask.any()


def test_similarity_match_takes_the_most_similar_token():
    teacher = torch.tensor([[[1., 0.], [0., 1.], [-1., 0.]]])
    student = torch.tensor([[[0.1, 2.], [-3., 0.1], [5., 1.]]])
    assert similarity_match(student, teacher)[0].tolist() == [1, 2, 0]


def test_hinge_is_strict_at_the_boundary():
    """The official hinge keeps a pair when its squared distance is *below*
    the larger squared half-diagonal (``distances < diag``, GLSD
    main_global_local_self_distillation.py): teacher cells 6 x 8 px
    (squared half-diagonal 25), a student token 5 px (3, 4) from the
    nearest teacher centre is dropped; closer (squared 19.5625), it
    counts. Exact binary fractions, so the comparison is exact."""
    teacher = centres((0, 0, 12, 16), grid=(2, 2))
    assert teacher[1].item() == 25
    on_edge = centres((5, 7, 7, 9), grid=(1, 1))  # centre (6, 8)
    _, mask = geometric_match(on_edge, teacher)
    assert not mask.any()
    inside = centres((5, 7, 7, 7.5), grid=(1, 1))  # centre (6, 7.25)
    _, mask = geometric_match(inside, teacher)
    assert mask.all()
