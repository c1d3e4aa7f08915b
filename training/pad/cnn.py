"""The small PAD CNN (PyTorch, training only; vultus runs its ONNX export)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def block(cin: int, cout: int, pool: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return layers + ([nn.MaxPool2d(2)] if pool else [])


class PadNet(nn.Module):
    """Four conv stages (64 -> 8 px, widths w..8w), global average pooling, one logit: about 4.5 M
    multiply-adds at 64 px, small enough to train on a shared CPU. Takes RGB in [0, 1] NCHW and,
    exported, returns the probability of a live face."""

    def __init__(self, width: int = 8, dropout: float = 0.3):
        super().__init__()
        w = width
        self.features = nn.Sequential(*block(3, w, True), *block(w, 2 * w, True), *block(2 * w, 4 * w, True),
                                      *block(4 * w, 8 * w, False))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(8 * w, 1))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features((x - 0.5) / 0.25)).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x)).unsqueeze(1)


def to_tensor(crops: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(crops.transpose(0, 3, 1, 2))).float() / 255.0


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirror and mild brightness / contrast changes (box jitter is in the crops themselves)."""
    n = x.shape[0]
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    gain = 1 + (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.4
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    contrast = 1 + (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.3
    return ((x - mean) * contrast + mean * gain).clamp(0, 1)


def predict(model: PadNet, crops: np.ndarray) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return model(to_tensor(crops)).squeeze(1).numpy()


def train(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray, *, epochs: int = 20,
          width: int = 8, lr: float = 2e-3, weight_decay: float = 5e-4, seed: int = 0,
          log=print) -> tuple[PadNet, dict]:
    """Train on crops (N, S, S, 3) with live labels; keep the epoch with the best validation AUC
    (then the lowest validation loss). Returns the model and that epoch's validation figures."""
    from vultus.eval.metrics import auc, roc

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = PadNet(width)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    x, y = to_tensor(train_x), torch.from_numpy(train_y.astype(np.float32))
    vx, vy = to_tensor(val_x), torch.from_numpy(val_y.astype(np.float32))
    # classes are unbalanced (more attacks): weigh live samples up so both count alike
    pos_weight = torch.tensor(float((y == 0).sum()) / max(float(y.sum()), 1.0))
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    best, best_state = None, None
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            loss = loss_fn(model.logits(augment(x[idx], gen)), y[idx])
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        with torch.no_grad():
            vlogit = model.logits(vx)
            vloss = float(nn.functional.binary_cross_entropy_with_logits(vlogit, vy))
        far, tar, _ = roc(vlogit.numpy(), val_y)
        vauc = auc(far, tar)
        key = (vauc, -vloss)
        if best is None or key > best[0]:
            best = (key, {"epoch": epoch + 1, "val_auc": vauc, "val_loss": vloss})
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        log(f"  epoch {epoch + 1:2d}: loss {float(loss.detach()):.3f}  val loss {vloss:.3f}  val AUC {vauc:.4f}")
    model.load_state_dict(best_state)
    model.eval()
    return model, best[1]


def export(model: PadNet, path, size: int) -> None:
    """ONNX with a dynamic batch: input `image` (N, 3, size, size) RGB in [0, 1], output `live` (N, 1)."""
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 3, size, size), str(path), input_names=["image"], output_names=["live"],
                      dynamic_axes={"image": {0: "n"}, "live": {0: "n"}}, opset_version=17, dynamo=False)
