"""Reference for `bench-train`: the paper's SGD loop written the straightforward way in PyTorch.

Same model (FC, mean-field, N(0,1) weights, sqrt(2)*relu or c*gelu with --act gelu --gain c), loss (hinge with margin 1/alpha,
scaled by 1/alpha), batches (B distinct indices per step) and dt = T*h*B as sgdnoise, with the
full training loss checked after every step. Prints one JSON line with the measured rate.
"""
import argparse, json, os, time

import numpy as np
import torch


def load_mnist(folder):
    def idx(name):
        with open(os.path.join(folder, name), "rb") as f:
            data = f.read()
        ndim = data[3]
        dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
        return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    x = np.concatenate([idx("train-images-idx3-ubyte"), idx("t10k-images-idx3-ubyte")]).reshape(-1, 784)
    y = np.concatenate([idx("train-labels-idx1-ubyte"), idx("t10k-labels-idx1-ubyte")])
    return (x.astype(np.float32) - 33.31) / 78.57, np.where(y % 2 == 0, 1.0, -1.0).astype(np.float32)


def base_parser(width):
    """The settings both references share (those of sgdnoise's kernel-regime MNIST run)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnist", default="data/mnist")
    ap.add_argument("--P", type=int, default=1024)
    ap.add_argument("--T", type=float, default=2**-6)
    ap.add_argument("--alpha", type=float, default=2**15)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--width", type=int, default=width)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    return ap


def training_set(a):
    """Threads and seeds set; the batch generator and P training points drawn from MNIST parity."""
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x, y = load_mnist(a.mnist)
    g = np.random.default_rng(a.seed)
    idx = g.choice(len(y), a.P, replace=False)
    return g, torch.from_numpy(x[idx]), torch.from_numpy(y[idx])


def main():
    ap = base_parser(128)
    ap.add_argument("--depth", type=int, default=5)
    ap.add_argument("--max-steps", type=int, default=100000)
    ap.add_argument("--max-wall", type=float, default=60.0)
    ap.add_argument("--act", choices=["relu", "gelu"], default="relu")
    ap.add_argument("--gain", type=float, default=2 ** 0.5, help="c in c*act(.): unit second moment")
    a = ap.parse_args()
    g, xtr, ytr = training_set(a)
    h, alpha = a.width, a.alpha
    ws = [torch.randn(h, 784)] + [torch.randn(h, h) for _ in range(a.depth - 1)] + [torch.randn(h)]
    for w in ws:
        w.requires_grad_(True)

    act = torch.relu if a.act == "relu" else torch.nn.functional.gelu

    def f(x):
        for w in ws[:-1]:
            x = act(x @ w.t() / w.shape[1] ** 0.5) * a.gain
        return x @ ws[-1] / h

    with torch.no_grad():
        f0 = f(xtr)
    dt = a.T * h * a.batch
    steps, status = 0, "step_limit"
    t0 = time.perf_counter()
    while steps < a.max_steps and time.perf_counter() - t0 < a.max_wall:
        i = torch.randperm(a.P)[: a.batch]
        out = f(xtr[i]) - f0[i]
        loss = torch.relu(1 - alpha * out * ytr[i]).mean() / alpha
        for w in ws:
            w.grad = None
        loss.backward()
        with torch.no_grad():
            for w in ws:
                w -= dt * w.grad
            steps += 1
            full = torch.relu(1 - alpha * (f(xtr) - f0) * ytr).mean()
        if not torch.isfinite(full):
            status = "diverged"
            break
        if full.item() == 0.0:
            status = "converged"
            break
    wall = time.perf_counter() - t0
    print(json.dumps({"status": status, "steps": steps, "wall_s": wall, "steps_per_s": steps / wall,
                      "threads": a.threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
