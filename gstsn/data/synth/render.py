"""Perspective camera, scanline rasteriser and the CASIA-B pretreatment, vectorised over frames.

Instead of rendering a raw frame and resizing it, each frame is rendered straight into the pretreated geometry: the
silhouette's vertical extent (known analytically from the projected capsules) is mapped onto ``height`` rows, which
is what cropping the silhouette's rows and resizing them to ``height`` does; pixels are sampled at their centres.
Each capsule (and the coat's trapezoid) covers one interval per row, computed in closed form; the union of the
intervals is painted with a difference array and a cumulative sum, so the cost is O(frames × rows × (primitives +
columns)) with no per-pixel Python loop. Segmentation noise is then applied, the frame is centred on the column where
the cumulative column mass passes half the total (as the community pretreatment does), a ``height``-wide window is
cut around it and its centre ``width`` columns are kept (64 → 44: columns 10..53).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gstsn.data.synth.body import Body

CAMERA_TARGET_HEIGHT = 0.9  # metres; the camera looks at this height above the walking line's midpoint
_EPS = np.float32(1e-6)


@dataclass(frozen=True)
class Camera:
    """Pinhole cameras, one per row: ``centre``, ``right``, ``down``, ``forward`` are (K, 3) (world, metres/unit)."""

    centre: np.ndarray
    right: np.ndarray
    down: np.ndarray
    forward: np.ndarray

    def take(self, idx: np.ndarray) -> Camera:
        return Camera(self.centre[idx], self.right[idx], self.down[idx], self.forward[idx])


def make_cameras(azimuth_deg: np.ndarray, distance: np.ndarray, height: np.ndarray) -> Camera:
    """Cameras at ``distance`` from the origin at azimuth ``azimuth_deg`` (K,), measured from the walking direction.

    0° faces the walker (it walks towards the camera), 90° sees its left side, 180° its back; image x runs to the
    right, image y downwards, so views θ and 180° - θ are near mirror images of each other.
    """
    th = np.deg2rad(azimuth_deg)
    centre = np.stack([distance * np.cos(th), distance * np.sin(th), height], axis=-1)
    target = np.array([0.0, 0.0, CAMERA_TARGET_HEIGHT])
    forward = target - centre
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    up = np.cross(right, forward)
    return Camera(centre=centre, right=right, down=-up, forward=forward)


def project(points: np.ndarray, cam: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project (N, K, 3) world points with per-frame cameras (N rows): image x, y and depth, each (N, K)."""
    rel = points - cam.centre[:, None, :]
    depth = np.einsum("nkc,nc->nk", rel, cam.forward)
    x = np.einsum("nkc,nc->nk", rel, cam.right) / depth
    y = np.einsum("nkc,nc->nk", rel, cam.down) / depth
    return x, y, depth


def capsule_spans(
    ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray, rad: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal extent of 2-D capsules on each row.

    ``ax, ay, bx, by, rad``: (P, N, 1) float32 segment ends and radius in pixel units (rad <= 0: absent); ``rows``:
    (R,) float32 row coordinates. Returns ``left``, ``right`` (P, N, R) float32 and ``hit`` (P, N, R) bool. The
    capsule is convex, so each row meets it in one interval; its right end maximises x(t) + sqrt(rad² - (y - y(t))²)
    over the segment parameter t in [0, 1], a concave function whose stationary point is closed-form (likewise the
    left end), clipped to the t-range where the row is within ``rad`` of the segment.
    """
    dx, dy = bx - ax, by - ay
    length = np.maximum(np.sqrt(dx * dx + dy * dy), _EPS)
    dy = np.where(np.abs(dy) < _EPS, np.where(dy < 0, -_EPS, _EPS), dy)
    inv_dy = 1.0 / dy
    k = np.where(rad > 0, np.abs(rad * inv_dy), np.float32(-1.0))  # half-width of the feasible t-range
    s_off = rad * dx * np.sign(dy) / length * inv_dy  # stationary point's offset in t
    rad2 = rad * rad
    rel = rows - ay  # (P, N, R): row minus segment start
    u = rel * inv_dy  # t at which the segment crosses the row
    t_lo = np.maximum(u - k, 0.0)
    t_hi = np.minimum(u + k, 1.0)
    hit = t_lo <= t_hi

    def extent(offset: np.ndarray, sign: float) -> np.ndarray:
        t = u + offset
        np.maximum(t, t_lo, out=t)
        np.minimum(t, t_hi, out=t)
        h = t * dy
        np.subtract(rel, h, out=h)
        np.multiply(h, h, out=h)
        np.subtract(rad2, h, out=h)
        np.maximum(h, 0.0, out=h)
        np.sqrt(h, out=h)
        if sign < 0:
            np.negative(h, out=h)
        np.multiply(t, dx, out=t)
        np.add(t, ax, out=t)
        return np.add(t, h, out=t)

    return extent(-s_off, -1.0), extent(s_off, 1.0), hit


def trapezoid_spans(
    y_top: np.ndarray,
    x0_top: np.ndarray,
    x1_top: np.ndarray,
    y_bot: np.ndarray,
    x0_bot: np.ndarray,
    x1_bot: np.ndarray,
    rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Extent of trapezoids with horizontal top and bottom edges; inputs (1, N, 1) pixel units, outputs (1, N, R)."""
    span = np.maximum(y_bot - y_top, _EPS)
    t = (rows - y_top) / span
    hit = (t >= 0) & (t <= 1) & (y_bot > y_top)
    return x0_top + t * (x0_bot - x0_top), x1_top + t * (x1_bot - x1_top), hit


def _below_masks(n_words: int) -> np.ndarray:
    """(64 n_words + 1, n_words) uint64: row c has the bits of columns 0..c-1 set (column j = bit j % 64 of word
    j // 64)."""
    c = np.arange(64 * n_words + 1)[:, None] - 64 * np.arange(n_words)[None, :]
    bits = np.clip(c, 0, 64)
    out = np.zeros(bits.shape, dtype=np.uint64)
    part = bits < 64
    out[part] = (np.uint64(1) << bits[part].astype(np.uint64)) - np.uint64(1)
    out[~part] = np.uint64(2**64 - 1)
    return out


def paint_words(left: np.ndarray, right: np.ndarray, hit: np.ndarray, n_words: int) -> np.ndarray:
    """Union of row intervals as bit rows: inputs (P, N, R) (pixel j covers x = j), output (N, R, n_words) uint64
    where column j is bit j % 64 of word j // 64.

    Each interval becomes one bitmask per word (two lookups in a table of "all columns below c"), and a row is the
    bitwise OR of its intervals' masks: a few integer operations per interval, no per-pixel work.
    """
    n_cols = 64 * n_words
    c0 = np.ceil(np.clip(left, 0, n_cols)).astype(np.intp)  # first covered column
    c1 = np.floor(np.clip(right, -1, n_cols - 1)).astype(np.intp) + 1  # one past the last covered column
    c1 = np.where(hit & (c1 > c0), c1, c0)
    below = _below_masks(n_words)
    words = np.empty(left.shape[1:] + (n_words,), dtype=np.uint64)
    for w in range(n_words):
        table = below[:, w]
        words[..., w] = np.bitwise_or.reduce(table[c1] & ~table[c0], axis=0)
    return words


def unpack_words(words: np.ndarray) -> np.ndarray:
    """(N, R, n_words) uint64 bit rows -> (N, R, 64 n_words) bool image."""
    n, n_rows, n_words = words.shape
    img = np.unpackbits(words.astype("<u8", copy=False).view(np.uint8), axis=-1, bitorder="little")
    return img.reshape(n, n_rows, 64 * n_words).view(bool)


def mass_centre(img: np.ndarray) -> np.ndarray:
    """(N,) first column where the cumulative column sum of (N, R, C) {0,1} images exceeds half the total (0 if
    empty), as the community pretreatment centres a frame."""
    columns = img.view(np.uint8).sum(axis=1, dtype=np.uint16)  # R <= 512 rows, so no overflow
    cum = np.cumsum(columns, axis=1, dtype=np.int32)
    return np.argmax(2 * cum > cum[:, -1:], axis=1)


@dataclass(frozen=True)
class NoiseLevels:
    """Segmentation noise: ``edge_px`` per-row edge jitter std, ``holes`` mean holes per frame, ``dropout`` per-frame
    probability of losing a band of the silhouette."""

    edge_px: float
    holes: float
    dropout: float


def render_frames(
    body: Body,
    cam: Camera,
    anchor: np.ndarray,
    edge_bias: np.ndarray,
    height: int,
    width: int,
    noise: NoiseLevels,
    rng: np.random.Generator,
) -> np.ndarray:
    """Render and pretreat N frames into uint8 (N, height, width) {0,1} silhouettes.

    ``cam`` holds one camera per frame; ``anchor`` (N, 3) is a body point (the pelvis) the working window is centred
    on before the mass-centre crop; ``edge_bias`` (N,) pixels widens (or, negative, thins) the silhouette on both
    sides, the way a segmentation threshold does.
    """
    n = body.r.shape[0]
    n_words = -(-3 * height // 128)  # working width: 64-column words covering 1.5 × height around the anchor
    win = 64 * n_words
    ax, ay, da = project(body.a, cam)  # (N, P) each
    bx, by, db = project(body.b, cam)
    valid = body.r > 0
    rad = np.where(valid, body.r / (0.5 * (da + db)), -1.0)
    px, _, _ = project(anchor[:, None, :], cam)
    # Prisms as image-space trapezoids: (y, x_left, x_right) of the top and of the bottom edge, (N,) each.
    traps = []
    for prism in body.prisms:
        edges = []
        for pts, r in ((prism.top, prism.top_r), (prism.bottom, prism.bottom_r)):
            x, y, depth = project(pts, cam)
            r_img = r[:, None] / depth
            edges += [y.mean(axis=1), (x - r_img).min(axis=1), (x + r_img).max(axis=1)]
        traps.append((prism.on, edges))

    # Height normalisation: the silhouette's rows [top, bottom] become rows 0..height-1.
    top = np.min(np.where(valid, np.minimum(ay, by) - rad, np.inf), axis=1)
    bottom = np.max(np.where(valid, np.maximum(ay, by) + rad, -np.inf), axis=1)
    for on, edges in traps:
        top = np.where(on, np.minimum(top, edges[0]), top)
        bottom = np.where(on, np.maximum(bottom, edges[3]), bottom)
    scale = height / (bottom - top)  # pixels per image unit (N,)
    off_x = px[:, 0] - (win / 2 - 0.5) / scale  # the anchor lands in the middle of the working window

    def col(x: np.ndarray) -> np.ndarray:  # (N, K) image x -> (K, N, 1) float32 window columns (column j at x = j)
        return ((x - off_x[:, None]) * scale[:, None]).T[:, :, None].astype(np.float32)

    def row(y: np.ndarray) -> np.ndarray:  # (N, K) image y -> (K, N, 1) float32 rows (row i samples y = i)
        return ((y - top[:, None]) * scale[:, None] - 0.5).T[:, :, None].astype(np.float32)

    rows = np.arange(height, dtype=np.float32)
    rad_px = (rad * scale[:, None]).T[:, :, None].astype(np.float32)
    cap = [col(ax), row(ay), col(bx), row(by), rad_px]  # (P, N, 1) each
    # Each primitive is rasterised only over the rows it can reach in this chunk (its band), which after height
    # normalisation is a fraction of the frame (the head never reaches the feet's rows).
    y_lo = np.where(rad_px > 0, np.minimum(cap[1], cap[3]) - rad_px, np.inf).min(axis=(1, 2))
    y_hi = np.where(rad_px > 0, np.maximum(cap[1], cap[3]) + rad_px, -np.inf).max(axis=(1, 2))
    bands = []
    for p in np.flatnonzero(np.isfinite(y_lo)):
        lo, hi = max(int(np.floor(y_lo[p])), 0), min(int(np.ceil(y_hi[p])) + 1, height)
        if lo < hi:
            bands.append((lo, hi, capsule_spans(*(c[p : p + 1] for c in cap), rows[lo:hi])))
    for on, (y0, l0, r0, y1, l1, r1) in traps:
        if not on.any():
            continue
        c = on[None, :, None]
        y_top = np.where(c, row(y0[:, None]), np.float32(1.0))  # frames without the prism: empty (top below bottom)
        y_bot = np.where(c, row(y1[:, None]), np.float32(0.0))
        lo, hi = max(int(np.floor(y_top[c].min())), 0), min(int(np.ceil(y_bot[c].max())) + 1, height)
        if lo < hi:
            spans = trapezoid_spans(
                y_top, col(l0[:, None]), col(r0[:, None]), y_bot, col(l1[:, None]), col(r1[:, None]), rows[lo:hi]
            )
            bands.append((lo, hi, spans))
    # Edge noise: a per-sequence bias (segmentation slightly too fat or thin) plus per-row jitter shared by every
    # primitive of the row.
    grow = np.zeros((2, n, height), dtype=np.float32) + edge_bias.astype(np.float32)[None, :, None]
    if noise.edge_px > 0:
        grow += rng.normal(0.0, noise.edge_px, size=(2, n, height)).astype(np.float32)
    words = np.zeros((n, height, n_words), dtype=np.uint64)
    for lo, hi, (left, right, hit) in bands:
        words[:, lo:hi] |= paint_words(left - grow[0, :, lo:hi], right + grow[1, :, lo:hi], hit, n_words)
    img = unpack_words(words)
    _segmentation_noise(img, noise, rng)

    # Pretreatment: centre on the mass-half column, cut a height-wide window, keep its centre `width` columns.
    first = mass_centre(img) - height // 2 + (height - width) // 2
    if first.min() < 0 or first.max() > win - width:  # the crop leaves the window: pad with background
        img = np.pad(img, ((0, 0), (0, 0), (width, width)))
        first = first + width
    windows = np.lib.stride_tricks.sliding_window_view(img, width, axis=2)  # (N, R, win - width + 1, width)
    return windows[np.arange(n), :, first].astype(np.uint8)


def _segmentation_noise(img: np.ndarray, noise: NoiseLevels, rng: np.random.Generator) -> None:
    """In place on (N, R, C) bool images: small holes near the body's centre and occasional missing bands."""
    n, n_rows, n_cols = img.shape
    centre = mass_centre(img)
    counts = rng.poisson(noise.holes, size=n) if noise.holes > 0 else np.zeros(n, dtype=np.int64)
    k = int(counts.sum())
    if k:
        fid = np.repeat(np.arange(n), counts)
        r0 = rng.integers(int(0.12 * n_rows), int(0.9 * n_rows), size=k)
        c0 = centre[fid] + rng.integers(-n_rows // 12, n_rows // 12 + 1, size=k)
        hh = rng.integers(1, 3, size=k)
        ww = rng.integers(1, 4, size=k)
        dr, dc = np.meshgrid(np.arange(2), np.arange(3), indexing="ij")
        rr = r0[:, None] + dr.ravel()
        cc = c0[:, None] + dc.ravel()
        m = (dr.ravel() < hh[:, None]) & (dc.ravel() < ww[:, None]) & (rr < n_rows) & (cc >= 0) & (cc < n_cols)
        img[np.broadcast_to(fid[:, None], m.shape)[m], rr[m], cc[m]] = False
    if noise.dropout > 0:
        u = rng.random((n, 6))
        sel = np.flatnonzero(u[:, 0] < noise.dropout)
        if sel.size:
            u = u[sel]
            band = np.maximum(2, (n_rows / 32 + u[:, 1] * n_rows * 3 / 32)).astype(np.int64)
            r0 = (u[:, 2] * (n_rows - band)).astype(np.int64)
            # Cleared left of the centre column, right of it, or across the whole width.
            mode = (u[:, 3] * 3).astype(np.int64)
            c_lo = np.where(mode == 1, centre[sel], 0)
            c_hi = np.where(mode == 0, centre[sel], n_cols)
            r = np.arange(n_rows)[None, :, None]
            c = np.arange(n_cols)[None, None, :]
            cut = (r >= r0[:, None, None]) & (r < (r0 + band)[:, None, None])
            cut = cut & (c >= c_lo[:, None, None]) & (c < c_hi[:, None, None])
            img[sel] &= ~cut
