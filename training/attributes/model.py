"""The mask-guided multi-task network (MGMTN) head, on a frozen SFace trunk's 14x14 feature map.

    features (512x14x14) --1x1--> F (C x14x14)
    prior masks P (5x14x14, from landmarks) + F --FCN--> M = sigmoid(logit P + delta)   [adaptive masks]
    global branch:  mean of F over the map           -> FC
    group branches: mean of F inside each mask M_g    -> one FC per group
    fusion: concat(global, groups) -> FC -> heads: gender (2), ethnicity (5), age (101 bins, 0..100 y)

Variants (the ablation): `global` (no groups), `groups` (no global), `fused` (both); masks `fixed`
(M = P) or `learned` (the FCN). `embedding` is a baseline: the same heads on SFace's 128-d output.
"""

from __future__ import annotations

import torch
from torch import nn

AGES = 101  # age bins 0..100 years; the estimate is the distribution's mean
N_GROUPS = 5


class Heads(nn.Module):
    def __init__(self, width: int, hidden: int = 256, dropout: float = 0.3):
        super().__init__()
        self.fuse = nn.Sequential(nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.PReLU(hidden),
                                  nn.Dropout(dropout))
        self.gender = nn.Linear(hidden, 2)
        self.race = nn.Linear(hidden, 5)
        self.age = nn.Linear(hidden, AGES)

    def forward(self, x):
        h = self.fuse(x)
        return self.gender(h), self.race(h), self.age(h)


class MaskGuided(nn.Module):
    def __init__(self, variant: str = "fused", masks: str = "learned", in_channels: int = 512,
                 channels: int = 64, group_width: int = 32, global_width: int = 128):
        super().__init__()
        assert variant in ("global", "groups", "fused") and masks in ("fixed", "learned")
        self.variant, self.masks = variant, masks
        self.reduce = nn.Sequential(nn.Conv2d(in_channels, channels, 1, bias=False), nn.BatchNorm2d(channels),
                                    nn.PReLU(channels))
        width = 0
        if variant != "groups":
            self.global_fc = nn.Sequential(nn.Linear(channels, global_width), nn.PReLU(global_width))
            width += global_width
        if variant != "global":
            if masks == "learned":
                self.fcn = nn.Sequential(nn.Conv2d(channels + N_GROUPS, 16, 3, padding=1), nn.ReLU(),
                                         nn.Conv2d(16, N_GROUPS, 3, padding=1))
                nn.init.zeros_(self.fcn[-1].weight)  # start from the landmark masks
                nn.init.zeros_(self.fcn[-1].bias)
            # one fully connected layer per group, applied to all groups at once
            self.group_weight = nn.Parameter(torch.randn(N_GROUPS, channels, group_width) / channels ** 0.5)
            self.group_bias = nn.Parameter(torch.zeros(N_GROUPS, group_width))
            self.group_act = nn.PReLU(N_GROUPS * group_width)
            width += N_GROUPS * group_width
        self.heads = Heads(width)

    def group_masks(self, f, prior):
        if self.masks == "fixed":
            return prior
        p = prior.clamp(0.02, 0.98)
        return torch.sigmoid(torch.log(p / (1 - p)) + self.fcn(torch.cat([f, prior], 1)))

    def forward(self, features, prior):
        f = self.reduce(features)
        parts = []
        masks = prior
        if self.variant != "groups":
            parts.append(self.global_fc(f.mean((2, 3))))
        if self.variant != "global":
            masks = self.group_masks(f, prior)
            pooled = torch.einsum("nghw,nchw->ngc", masks, f) / (masks.sum((2, 3))[..., None] + 1e-3)
            g = self.group_act((torch.einsum("ngc,gcd->ngd", pooled, self.group_weight) + self.group_bias).flatten(1))
            parts.append(g)
        gender, race, age = self.heads(torch.cat(parts, 1))
        return gender, race, age, masks


class EmbeddingHeads(nn.Module):
    """Baseline: the same heads on SFace's 128-d embedding (what the shipped embedder alone carries)."""

    def __init__(self):
        super().__init__()
        self.heads = Heads(128)

    def forward(self, embedding, prior=None):
        gender, race, age = self.heads(embedding)
        return gender, race, age, prior


class SmallCNN(nn.Module):
    """Baseline trained from scratch on the crops at 56x56 (no pretrained part), the same heads."""

    def __init__(self):
        super().__init__()

        def block(i, o):
            return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(),
                                 nn.Conv2d(o, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(),
                                 nn.MaxPool2d(2))

        self.body = nn.Sequential(block(3, 24), block(24, 48), block(48, 96), block(96, 128))
        self.heads = Heads(128)

    def forward(self, image, prior=None):  # image: (N, 3, 112, 112) RGB 0..255, as the trunk gets it
        x = nn.functional.avg_pool2d(image / 255, 2)
        gender, race, age = self.heads(self.body(x).mean((2, 3)))
        return gender, race, age, prior


def age_mean(age_logits):
    p = torch.softmax(age_logits, 1)
    return p @ torch.arange(AGES, dtype=p.dtype, device=p.device)
