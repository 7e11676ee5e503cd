"""Reference for `bench-mnas`: the paper's SGD loop on the MnasNet-like net, written the
straightforward way in PyTorch.

Same net as sgdnoise's `mnas` (shared/DESIGN.md): stem conv 5x5/2 -> 4h, depthwise 5x5, 1x1 -> 2h;
inverted residual blocks (expansion 3, depthwise 5x5) with (out, stride) = (h,2), (h,1), (3h,2),
(3h,1), residual (x + r)/sqrt(2) where shapes match; head 1x1 -> 20h, global average pool, linear
with bias, all divided by 20h. Convolutions divide by k*sqrt(C_in), depthwise by k, TF "SAME"
padding, sqrt(2)*relu, N(0,1) weights. Hinge loss with margin 1/alpha scaled by 1/alpha on the
output centred at initialisation, B distinct indices per step, dt = T*h*B, autograd's gradient.
Times `--steps` steps (no stop check, no trajectory) and prints one JSON line.
"""
import json, math, os, sys, time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_train import base_parser, training_set  # noqa: E402


def same_pad(z, k, stride):
    h, w = z.shape[2], z.shape[3]
    out_h, out_w = -(-h // stride), -(-w // stride)
    ph = max((out_h - 1) * stride + k - h, 0)
    pw = max((out_w - 1) * stride + k - w, 0)
    return F.pad(z, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


def layers(h, c_in):
    """(name, shape, kind, stride) in sgdnoise's order."""
    out = [("stem.conv", (4 * h, c_in, 5, 5), "conv", 2), ("stem.dw", (4 * h, 1, 5, 5), "dw", 1),
           ("stem.pw", (2 * h, 4 * h, 1, 1), "conv", 1)]
    c = 2 * h
    for i, (o, s) in enumerate([(h, 2), (h, 1), (3 * h, 2), (3 * h, 1)]):
        mid = 3 * c
        out += [(f"b{i}.expand", (mid, c, 1, 1), "conv", 1), (f"b{i}.dw", (mid, 1, 5, 5), "dw", s),
                (f"b{i}.project", (o, mid, 1, 1), "conv", 1)]
        c = o
    return out + [("head.conv", (20 * h, c, 1, 1), "conv", 1), ("head.linear", (20 * h,), "head", 0),
                  ("head.bias", (1,), "bias", 0)]


def forward(spec, ws, x):
    gain = math.sqrt(2.0)

    def conv(i, z):
        _, shape, kind, stride = spec[i]
        k = shape[2]
        groups, scale = (shape[0], 1.0 / k) if kind == "dw" else (1, 1.0 / (k * math.sqrt(shape[1])))
        return F.conv2d(same_pad(z, k, stride), ws[i], stride=stride, groups=groups) * scale

    z = x
    for i in range(3):
        z = torch.relu(conv(i, z)) * gain
    for b in range(4):
        first = 3 + 3 * b
        inp = z
        z = torch.relu(conv(first, z)) * gain
        z = torch.relu(conv(first + 1, z)) * gain
        z = conv(first + 2, z)
        if z.shape == inp.shape:
            z = (z + inp) / math.sqrt(2.0)
    head = 3 + 12
    z = torch.relu(conv(head, z)) * gain
    pooled = z.mean(dim=(2, 3))
    return (pooled @ ws[head + 1] + ws[head + 2]) / ws[head + 1].shape[0]


def main():
    ap = base_parser(64)
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    g, xtr, ytr = training_set(a)
    xtr = xtr.reshape(-1, 1, 28, 28)
    spec = layers(a.width, 1)
    ws = [torch.randn(*s).requires_grad_(True) for _, s, _, _ in spec]
    with torch.no_grad():
        f0 = torch.cat([forward(spec, ws, xtr[i:i + 64]) for i in range(0, a.P, 64)])
    dt = a.T * a.width * a.batch
    t0 = time.perf_counter()
    for _ in range(a.steps):
        b = torch.from_numpy(g.choice(a.P, a.batch, replace=False))
        out = forward(spec, ws, xtr[b]) - f0[b]
        loss = torch.relu(1 - a.alpha * ytr[b] * out).mean() / a.alpha
        grads = torch.autograd.grad(loss, ws)
        with torch.no_grad():
            for w, gr in zip(ws, grads):
                w -= dt * gr
    wall = time.perf_counter() - t0
    print(json.dumps({"steps": a.steps, "wall_s": wall, "steps_per_s": a.steps / wall}))


if __name__ == "__main__":
    main()
