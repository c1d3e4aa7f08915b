"""The trainable parts of the expression model (PyTorch; only the `train` extra needs torch).

- `MapHead`: a light head on a frozen SFace feature map (C x 7 x 7): a 1x1 convolution to a few
  channels keeps where on the face each feature is, then one linear layer. MotivNet's recipe: the
  backbone stays as pretrained, only this head learns expressions.
- `EmbeddingHead`: the same on SFace's 128-d identity embedding (an MLP).
- `AppearanceCNN`: a small VGG-style network trained from scratch on the 48x48 grey crops.
- `Shipped`: what is exported to ONNX: the chosen parts, their logits averaged with fixed weights
  and divided by the temperature fitted on PublicTest, then a softmax.
"""

from __future__ import annotations

import torch
from torch import nn

N_CLASSES = 7


class MapHead(nn.Module):
    """A light head on a C x g x g feature map. `eyes_only` keeps the rows above 0.55 of the map's
    height: in SFace's ArcFace framing those hold forehead, brows and eyes (eye centres at 0.46),
    not the nose tip (0.64) or the mouth (0.82)."""

    def __init__(self, channels: int, grid: int, width: int = 64, dropout: float = 0.5, pool: int = 1,
                 eyes_only: bool = False):
        super().__init__()
        self.pool = nn.AvgPool2d(pool) if pool > 1 else nn.Identity()  # 14x14 maps -> 7x7 at export
        self.rows = eye_rows(grid) if eyes_only else grid
        self.reduce = nn.Sequential(nn.Dropout2d(0.1), nn.Conv2d(channels, width, 1, bias=False),
                                    nn.BatchNorm2d(width), nn.ReLU())
        self.out = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(width * self.rows * grid, N_CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.reduce(self.pool(x)[:, :, :self.rows]))


def eye_rows(grid: int) -> int:
    return int(round(grid * 0.55))


class EmbeddingHead(nn.Module):
    def __init__(self, dim: int = 128, hidden: int = 256, dropout: float = 0.3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, N_CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(nn.functional.normalize(x, dim=1))


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.MaxPool2d(2))


class AppearanceCNN(nn.Module):
    """48x48x1 in [-1, 1] -> 7 logits; four conv blocks (48 -> 24 -> 12 -> 6 -> 3)."""

    def __init__(self, widths: tuple[int, ...] = (24, 48, 96, 192), dropout: float = 0.4):
        super().__init__()
        chans = (1, *widths)
        self.features = nn.Sequential(*(_block(a, b) for a, b in zip(chans[:-1], chans[1:])))
        self.out = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                 nn.Linear(widths[-1], N_CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


class Shipped(nn.Module):
    """The exported model: named inputs -> calibrated class probabilities of the whole face and,
    when `eyes` is given, of the eye region alone (its own temperature; input: the conv14 map,
    `eyes_input` is its position among the inputs). The emotion fusion reads both."""

    def __init__(self, parts: dict[str, nn.Module], weights: dict[str, float], temperature: float,
                 eyes: nn.Module | None = None, eyes_temperature: float = 1.0, eyes_input: int = 0):
        super().__init__()
        self.names = list(parts)
        self.parts = nn.ModuleList(parts[n] for n in self.names)
        self.weights = [float(weights[n]) for n in self.names]
        self.temperature = float(temperature)
        self.eyes, self.eyes_temperature, self.eyes_input = eyes, float(eyes_temperature), eyes_input

    def forward(self, *inputs: torch.Tensor):
        logits = sum(w * p(x) for w, p, x in zip(self.weights, self.parts, inputs))
        face = torch.softmax(logits / self.temperature, dim=1)
        if self.eyes is None:
            return face
        return face, torch.softmax(self.eyes(inputs[self.eyes_input]) / self.eyes_temperature, dim=1)
