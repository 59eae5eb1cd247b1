"""Compiled inner loops of the detail synthesis (photorecon.detail): PatchMatch nearest-neighbour
search over a list of target pixels, and patch voting. numba compiles them on first use and
caches the machine code beside this file (or in NUMBA_CACHE_DIR), so later processes load them
in a fraction of a second.

Layout: `guide` and `high` are (H, W, C) float32 feature images (the low-pass guide, the
high-pass detail); `valid` (H, W) uint8 says where `high` is known or already synthesised;
`source` (H, W) uint8 marks the centres of patches that lie wholly in the known pixels;
targets are (N,) row and column arrays, `index` (H, W) int32 maps a pixel to its target number
(-1: not a target); `nnf` (N, 2) int32 holds each target's source patch centre.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, fastmath=True)
def patch_cost(guide, high, valid, ty, tx, sy, sx, radius, step, weight, limit):
    """Squared distance between the patches at (ty, tx) and (sy, sx): the guide everywhere
    inside the image, the detail where the target side's `valid`; stops early past `limit`."""
    height, width, channels = guide.shape
    total = 0.0
    for dy in range(-radius, radius + 1, step):
        y = ty + dy
        if y < 0 or y >= height:
            continue
        for dx in range(-radius, radius + 1, step):
            x = tx + dx
            if x < 0 or x >= width:
                continue
            v = valid[y, x]
            for c in range(channels):
                d = guide[y, x, c] - guide[sy + dy, sx + dx, c]
                total += d * d
                if v:
                    e = high[y, x, c] - high[sy + dy, sx + dx, c]
                    total += weight * e * e
            if total > limit:
                return total
    return total


@njit(cache=True, nogil=True, fastmath=True)
def patchmatch(
    guide, high, valid, source, ty, tx, index, nnf, radius, step, weight, iters, span0, seed
):
    """`iters` PatchMatch passes over the targets (alternating scan order): propagation from the
    two previous neighbours, then a random search around the current match at radii halving
    from `span0` (0: the whole image).
    Returns each target's cost; `nnf` is updated in place. Deterministic for `seed`."""
    np.random.seed(seed)  # numba's own generator for this thread; NumPy's is not touched
    height, width = source.shape
    n = ty.shape[0]
    cost = np.empty(n, np.float32)
    big = 3.0e38
    for i in range(n):
        cost[i] = patch_cost(
            guide, high, valid, ty[i], tx[i], nnf[i, 0], nnf[i, 1], radius, step, weight, big
        )
    for it in range(iters):
        forward = it % 2 == 0
        d = -1 if forward else 1
        for k in range(n):
            i = k if forward else n - 1 - k
            y, x = ty[i], tx[i]
            best_y, best_x, best = nnf[i, 0], nnf[i, 1], cost[i]
            # propagation: a neighbour's match, shifted back by one pixel
            for side in range(2):
                ny = y + d * side
                nx = x + d * (1 - side)
                if ny < 0 or ny >= height or nx < 0 or nx >= width:
                    continue
                j = index[ny, nx]
                if j < 0:
                    continue
                cy, cx = nnf[j, 0] - (ny - y), nnf[j, 1] - (nx - x)
                if cy < 0 or cy >= height or cx < 0 or cx >= width or not source[cy, cx]:
                    continue
                c = patch_cost(guide, high, valid, y, x, cy, cx, radius, step, weight, best)
                if c < best:
                    best_y, best_x, best = cy, cx, c
            # random search around the best match, the radius halving down to one pixel
            span = span0 if span0 > 0 else max(height, width)
            while span >= 1:
                cy = best_y + np.random.randint(-span, span + 1)
                cx = best_x + np.random.randint(-span, span + 1)
                if 0 <= cy < height and 0 <= cx < width and source[cy, cx]:
                    c = patch_cost(guide, high, valid, y, x, cy, cx, radius, step, weight, best)
                    if c < best:
                        best_y, best_x, best = cy, cx, c
                span //= 2
            nnf[i, 0], nnf[i, 1], cost[i] = best_y, best_x, best
    return cost


@njit(cache=True, nogil=True, fastmath=True)
def vote(high, ty, tx, index, nnf, radius, spread):
    """Each target pixel's detail: the mean, over every target patch covering it, of the value
    its source patch holds there (patch voting), each patch's vote weighted by a Gaussian of
    its centre's distance (`spread` px; larger: a plainer mean). Returns (N, C) float32."""
    height, width, channels = high.shape
    n = ty.shape[0]
    side = 2 * radius + 1
    weights = np.empty((side, side), np.float32)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            weights[dy + radius, dx + radius] = np.exp(-(dy * dy + dx * dx) / (2.0 * spread**2))
    acc = np.zeros((n, channels), np.float32)
    count = np.zeros(n, np.float32)
    for i in range(n):
        y, x, sy, sx = ty[i], tx[i], nnf[i, 0], nnf[i, 1]
        for dy in range(-radius, radius + 1):
            py = y + dy
            if py < 0 or py >= height:
                continue
            for dx in range(-radius, radius + 1):
                px = x + dx
                if px < 0 or px >= width:
                    continue
                j = index[py, px]
                if j < 0:
                    continue
                w = weights[dy + radius, dx + radius]
                for c in range(channels):
                    acc[j, c] += w * high[sy + dy, sx + dx, c]
                count[j] += w
    for j in range(n):
        if count[j] > 0:
            for c in range(channels):
                acc[j, c] /= count[j]
    return acc
