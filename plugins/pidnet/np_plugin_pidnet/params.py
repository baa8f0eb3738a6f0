"""Params of the ``pidnet`` full model and the ``pidnet_loss`` criterion.

Field names follow NetsPresso Trainer's ``pidnet`` config (``m, n, channels, ppm_channels,
head_channels``) so its YAML files load unchanged. attrs only: the entry module imports this
without importing torch.
"""
from __future__ import annotations

import attrs

_positive = attrs.validators.ge(1)


@attrs.define(kw_only=True)
class PIDNetParams:
    """PIDNet's width/depth knobs (defaults: PIDNet-S, as in NetsPresso's ``pidnet-s-seg``)."""

    # residual blocks in I-branch stages 1-2 and in P-branch stages 3-4; m == 2 also selects the
    # light design of S/M (PAPPM context module, Light_Bag fusion, bottleneck D stage 4), any
    # other value the heavy one of L (DAPPM, Bag, basic-block D stages), as in the original code
    m: int = attrs.field(default=2, validator=_positive)
    n: int = attrs.field(default=3, validator=_positive)  # residual blocks in I-branch stages 3-4
    channels: int = attrs.field(default=32, validator=_positive)  # stem width ("planes"); stages use 1x..8x
    ppm_channels: int = attrs.field(default=96, validator=_positive)  # branch width of the PAPPM/DAPPM
    head_channels: int = attrs.field(default=128, validator=_positive)  # hidden width of the P and main heads
    # build the auxiliary P (semantic) and D (boundary) heads that the training loss needs; they
    # run only in training mode, so export and eval never see them (False: like get_pred_model)
    augment: bool = True


@attrs.define(kw_only=True)
class PIDNetLossParams:
    """PIDNet's training objective; the defaults are the original Cityscapes settings.

    total = aux_weight * CE(P head) + main_weight * OHEM-CE(main)
            + boundary_weight * balanced-BCE(D head, edges of the mask)
            + boundary_aware_weight * OHEM-CE(main, only where sigmoid(D) > boundary_threshold)
    """

    ignore_index: int = 255
    aux_weight: float = 0.4  # BALANCE_WEIGHTS[0], on the P-branch head
    main_weight: float = 1.0  # BALANCE_WEIGHTS[1], on the main head
    # the original applies OHEM to the main head only (the P head gets plain CE); True uses OHEM on both
    aux_ohem: bool = False
    ohem_thresh: float = 0.9  # keep pixels whose true-class probability is below this...
    ohem_min_kept: int = attrs.field(default=131072, validator=attrs.validators.ge(1))  # ...but at least this many
    boundary_weight: float = 20.0  # class-balanced BCE on the D head
    boundary_aware_weight: float = 1.0  # SB_WEIGHTS: CE on the main head at predicted boundaries
    boundary_threshold: float = 0.8  # sigmoid(D) above this marks a predicted boundary pixel
    # the edge target: pixels next to a different label, widened by this many pixels each side
    # (the original: 1-px Canny edges dilated by a 4x4 kernel, i.e. a band of about 4 px)
    edge_radius: int = attrs.field(default=1, validator=attrs.validators.ge(0))
