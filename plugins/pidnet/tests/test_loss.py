"""pidnet_loss: edge targets, ignore_index, finiteness and that it trains."""
from __future__ import annotations

import pytest
import torch

from np_plugin_pidnet.loss import PIDNetLoss, balanced_bce, edge_targets
from np_plugin_pidnet.model import PIDNet
from np_plugin_pidnet.params import PIDNetLossParams, PIDNetParams


def test_edge_targets_on_a_hand_made_mask():
    mask = torch.zeros(1, 6, 6, dtype=torch.long)
    mask[:, :, 3:] = 1  # a vertical boundary between columns 2 and 3
    edges = edge_targets(mask, radius=0)
    assert edges[0].sum(0).tolist() == [0, 0, 6, 6, 0, 0]
    widened = edge_targets(mask, radius=1)
    assert widened[0].sum(0).tolist() == [0, 6, 6, 6, 6, 0]
    corner = torch.zeros(1, 5, 5, dtype=torch.long)
    corner[:, 0, 0] = 2  # one odd pixel: itself and its right and lower neighbours
    assert edge_targets(corner, 0)[0].nonzero().tolist() == [[0, 0], [0, 1], [1, 0]]
    assert edge_targets(torch.full((1, 4, 4), 7), 2).sum() == 0  # uniform mask: no edges


def test_balanced_bce_weights_the_rare_class():
    target = torch.tensor([1.0, 0.0, 0.0, 0.0])
    logits = torch.zeros(4)
    # edge pixel weighs 3/4, each background pixel 1/4; BCE at logit 0 is log 2
    expected = (0.75 + 3 * 0.25) * torch.log(torch.tensor(2.0)) / 4
    assert torch.allclose(balanced_bce(logits, target), expected)


def _outputs(b=2, c=4, h=8, w=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"pred": torch.randn(b, c, 32, 32, generator=g), "extra_p": torch.randn(b, c, h, w, generator=g),
            "extra_d": torch.randn(b, 1, h, w, generator=g) * 3}


def test_loss_is_finite_and_respects_ignore_index():
    loss_fn = PIDNetLoss(PIDNetLossParams(ignore_index=255))
    masks = torch.randint(0, 4, (2, 32, 32), generator=torch.Generator().manual_seed(3))
    outputs = _outputs()
    base = loss_fn(outputs, {"masks": masks})
    assert torch.isfinite(base)
    # an ignored region: changing the main logits there must not change the main term
    ignored = masks.clone()
    ignored[:, :16] = 255
    main_only = PIDNetLoss(PIDNetLossParams(aux_weight=0.0, boundary_weight=0.0, boundary_aware_weight=0.0))
    changed = outputs["pred"].clone()
    changed[:, :, :16] += 5.0 * torch.randn_like(changed[:, :, :16])
    assert torch.equal(main_only(outputs, {"masks": ignored}), main_only(dict(outputs, pred=changed), {"masks": ignored}))
    assert not torch.equal(main_only(outputs, {"masks": masks}), main_only(dict(outputs, pred=changed), {"masks": masks}))
    # everything ignored: zero, finite, still differentiable
    pred = outputs["pred"].clone().requires_grad_()
    zero = main_only(dict(outputs, pred=pred), {"masks": torch.full_like(masks, 255)})
    zero.backward()
    assert zero.item() == 0.0 and pred.grad is not None


def test_eval_output_gets_the_main_term_only():
    loss_fn = PIDNetLoss(PIDNetLossParams())
    masks = torch.randint(0, 4, (2, 32, 32), generator=torch.Generator().manual_seed(4))
    outputs = _outputs()
    assert torch.equal(loss_fn(outputs["pred"], {"masks": masks}), loss_fn.ohem_ce(outputs["pred"], masks))


def test_loss_decreases_when_training_a_tiny_pidnet():
    torch.manual_seed(0)
    model = PIDNet(PIDNetParams(channels=8, ppm_channels=8, head_channels=16), num_classes=3).train()
    loss_fn = PIDNetLoss(PIDNetLossParams(ohem_min_kept=256))
    x = torch.randn(2, 3, 32, 32)
    masks = torch.zeros(2, 32, 32, dtype=torch.long)
    masks[:, :, 16:] = 1
    masks[:, 24:, :] = 2
    masks[0, :4, :4] = 255
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = loss_fn(model(x), {"masks": masks})
        assert torch.isfinite(loss)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


def _ohem_by_definition(logits, target, ignore, thresh, min_kept):
    """OHEM written out plainly: per-pixel CE, softmax probabilities, a full sort for the threshold."""
    pixel_loss = torch.nn.functional.cross_entropy(logits, target, ignore_index=ignore, reduction="none").reshape(-1)
    valid = target.reshape(-1) != ignore
    index = torch.where(target == ignore, torch.zeros_like(target), target)
    prob = torch.softmax(logits, 1).gather(1, index.unsqueeze(1)).reshape(-1)[valid].detach()
    kth = prob.sort().values[min(min_kept, prob.numel() - 1)]
    kept = pixel_loss[valid][prob < torch.clamp(kth, min=thresh)]
    return kept.sum() / max(kept.numel(), 1), kept.numel()


@pytest.mark.parametrize("min_kept,thresh", [(100, 0.05), (100, 0.9), (5000, 0.05), (1, 0.3)])
def test_ohem_matches_its_definition(min_kept, thresh):
    """The mined CE (shared log-softmax, selection instead of sort) equals the plain definition in
    value and gradient, whether the threshold or the min-kept count decides, with ignored pixels."""
    g = torch.Generator().manual_seed(min_kept)
    logits = (torch.randn(2, 5, 24, 20, generator=g) * 2).requires_grad_()
    target = torch.randint(0, 5, (2, 24, 20), generator=g)
    target[0, :6] = 255
    loss_fn = PIDNetLoss(PIDNetLossParams(ohem_thresh=thresh, ohem_min_kept=min_kept))
    ours = loss_fn.ohem_ce(logits, target)
    (ours_grad,) = torch.autograd.grad(ours, logits)
    shared = loss_fn.ohem_ce(logits, target, torch.log_softmax(logits, 1))
    reference, kept = _ohem_by_definition(logits, target, 255, thresh, min_kept)
    (ref_grad,) = torch.autograd.grad(reference, logits)
    assert 0 < kept < int((target != 255).sum())  # some pixels mined away, so selection matters
    assert torch.allclose(ours, reference, rtol=1e-6, atol=0) and torch.allclose(shared, reference, rtol=1e-6, atol=0)
    assert torch.allclose(ours_grad, ref_grad, rtol=1e-5, atol=1e-9)
