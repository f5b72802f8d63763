"""Does minstn learn as fast as PyTorch? Same initial weights, same batches, Adam 1e-3.

Trains the experiment-3 CNN baseline (demos/same_image.py, 747k parameters) in both
frameworks side by side on the same stream of 42×84 same-image batches and prints
loss and validation accuracy (1,000 pairs) every 100 steps. Dropout masks differ
between the frameworks, so curves agree within noise, not exactly.

    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python bench/learning_parity.py 600
"""
import os
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "demos")]
import minstn  # noqa: E402
import minstn.functional as F  # noqa: E402
import same_image as S  # noqa: E402
from minstn import optim  # noqa: E402
from minstn.data import mnist  # noqa: E402
from minstn.data.distort import RTS  # noqa: E402
from minstn.train import accuracy  # noqa: E402


def torch_twin(m):
    """The CNN baseline in PyTorch, loaded with m's weights."""
    nn = torch.nn
    hidden, flat = m.head[7].weight.shape
    tm = nn.Sequential(nn.Conv2d(1, 32, 5), nn.MaxPool2d(2), nn.ReLU(),
                       nn.Conv2d(32, 64, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
                       nn.Linear(flat, hidden), nn.ReLU(), nn.Dropout(0.5),
                       nn.Linear(hidden, S.N_CLASSES))
    tm.load_state_dict({k[len("head."):]: torch.from_numpy(v.copy())
                        for k, v in m.state_dict().items()})
    return tm


def main(steps=600):
    torch.set_num_threads(1)
    args = S.parse_args([])
    train_x, train_y = mnist.load("train")
    rts = RTS(45.0, 0.1, (0.7, 1.3))
    pool = (train_x[:50000], train_y[:50000])
    m = S.make_model(args, "cnn", 0)
    tm = torch_twin(m)
    opt, topt = optim.Adam(m.parameters(), lr=1e-3), torch.optim.Adam(tm.parameters(), lr=1e-3)
    rng = np.random.default_rng(5)
    vx, vy = S.batch(args, pool, 1000, np.random.default_rng(7), rts)
    t0 = time.time()
    for step in range(1, steps + 1):
        x, y = S.batch(args, pool, 64, rng, rts)                       # (64, 1, 42, 84)
        loss = F.cross_entropy(m(minstn.Tensor(x)), y)
        opt.zero_grad(), loss.backward(), opt.step()
        tl = torch.nn.functional.cross_entropy(tm(torch.from_numpy(x)), torch.from_numpy(y))
        topt.zero_grad(), tl.backward(), topt.step()
        if step % 100 == 0:
            tm.eval()
            with torch.no_grad():
                ta = float((tm(torch.from_numpy(vx)).argmax(1).numpy() == vy).mean())
            tm.train()
            print(f"{step} ({time.time() - t0:.0f} s): minstn loss {loss.item():.3f} "
                  f"val {accuracy(m, vx, vy):.3f} | torch loss {tl.item():.3f} val {ta:.3f}",
                  flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 600)
