"""A compiled tree walker for a trained XGBoost booster: same scores, a fraction of the cost.

XGBoost's own ``inplace_predict`` on a batch of 512 rows spends most of its time on
per-call set-up and on one dependent chain of node loads per (row, tree). This
module walks the same trees in a small C kernel instead: the nodes of every tree
in one flat array, a block of 64 rows advanced level by level through each tree
(independent chains the CPU overlaps), leaves looping onto themselves so every
row takes the same number of steps. It also computes the approximate (Saabas)
per-feature contributions of ``pred_contribs=True, approx_contribs=True`` for
the reason codes, without XGBoost's fixed cost per call (compiled and cached by
:mod:`fraudstream.detect.native`).

The arithmetic is XGBoost's: features compared as float32 (``x < threshold`` goes
left, NaN takes the learned default), leaf values added in float32 tree by tree
onto the base margin, node means weighted by the hessian sums. :meth:`CompiledForest.build`
checks the margins and contributions against XGBoost on probe rows drawn around
the model's own thresholds and returns None (the caller keeps XGBoost) if they
differ, if the model has categorical splits or is not a binary ``gbtree``, or if
no C compiler is available.
"""

from __future__ import annotations

import ctypes
import json
import logging
from typing import Any

import numpy as np

from fraudstream.detect.native import load_kernel, ptr

log = logging.getLogger(__name__)

# The C struct node_t, 16 bytes; its child[2] is (left, right).
NODE = np.dtype(
    [
        ("thr", "<f4"),
        ("left", "<i4"),
        ("right", "<i4"),
        ("feat", "<i2"),
        ("defl", "u1"),
        ("pad", "u1"),
    ]
)

_SOURCE = r"""
#include <stdint.h>
#include <math.h>
typedef struct { float thr; int32_t child[2]; int16_t feat; uint8_t defl; uint8_t pad; } node_t;
#define BLOCK 64
#define MAX_DEPTH 64

static inline int32_t step(const node_t *nd, const float *row) {
    float v = row[nd->feat];
    /* Branch-free: NaN compares false, so it goes left only by the default flag. */
    int go_left = (v < nd->thr) | ((v != v) & nd->defl);
    /* An indexed load: a ternary compiles to a (mispredicted) branch. */
    return nd->child[1 - go_left];
}

/* XGBoost's common::Sigmoid, bit for bit. */
static inline float sigmoid(float x) {
    float z = -x < 88.7f ? -x : 88.7f;
    return 1.0f / (expf(z) + 1.0f + 1e-16f);
}

void fs_predict(const float *x, int64_t n, int64_t nf, const node_t *nodes, const float *value,
                const int32_t *roots, const int32_t *depth, int64_t ntrees, float base,
                int32_t probability, float *out) {
    int32_t cur[BLOCK];
    float acc[BLOCK];
    for (int64_t r0 = 0; r0 < n; r0 += BLOCK) {
        int64_t nb = n - r0 < BLOCK ? n - r0 : BLOCK;
        const float *xb = x + r0 * nf;
        for (int64_t i = 0; i < nb; i++) acc[i] = base;
        for (int64_t k = 0; k < ntrees; k++) {
            int32_t root = roots[k];
            for (int64_t i = 0; i < nb; i++) cur[i] = root;
            /* Level by level over the block: 64 independent chains of loads in flight. */
            for (int32_t d = 0; d < depth[k]; d++)
                for (int64_t i = 0; i < nb; i++) cur[i] = step(&nodes[cur[i]], xb + i * nf);
            for (int64_t i = 0; i < nb; i++) acc[i] += value[cur[i]];
        }
        for (int64_t i = 0; i < nb; i++) out[r0 + i] = probability ? sigmoid(acc[i]) : acc[i];
    }
}

/* out: [n, nf + 1] zeroed by the caller (last column: bias); tree: [nf] scratch, zeroed. */
void fs_contrib(const float *x, int64_t n, int64_t nf, const node_t *nodes, const float *mean,
                const int32_t *roots, const int32_t *depth, int64_t ntrees, float base, float *out,
                float *tree) {
    int32_t cur[BLOCK];
    float now[BLOCK];
    int16_t pf[MAX_DEPTH][BLOCK];
    float pd[MAX_DEPTH][BLOCK];
    for (int64_t r0 = 0; r0 < n; r0 += BLOCK) {
        int64_t nb = n - r0 < BLOCK ? n - r0 : BLOCK;
        const float *xb = x + r0 * nf;
        for (int64_t k = 0; k < ntrees; k++) {
            int32_t root = roots[k];
            int32_t nd = depth[k] < MAX_DEPTH ? depth[k] : MAX_DEPTH;
            for (int64_t i = 0; i < nb; i++) { cur[i] = root; now[i] = mean[root]; }
            /* A fixed number of steps: a leaf loops onto itself and adds new - old = 0. */
            for (int32_t d = 0; d < nd; d++)
                for (int64_t i = 0; i < nb; i++) {
                    pf[d][i] = nodes[cur[i]].feat;
                    cur[i] = step(&nodes[cur[i]], xb + i * nf);
                    float next = mean[cur[i]];
                    pd[d][i] = next - now[i];
                    now[i] = next;
                }
            /* XGBoost sums a tree's contributions per feature in path order, then adds the
               tree's vector to the row's (entries off the path are 0). */
            for (int64_t i = 0; i < nb; i++) {
                float *o = out + (r0 + i) * (nf + 1);
                o[nf] += mean[root];
                for (int32_t d = 0; d < nd; d++) tree[pf[d][i]] += pd[d][i];
                for (int32_t d = 0; d < nd; d++) {
                    o[pf[d][i]] += tree[pf[d][i]];
                    tree[pf[d][i]] = 0.0f;
                }
            }
        }
        for (int64_t i = 0; i < nb; i++) out[(r0 + i) * (nf + 1) + nf] += base;
    }
}
"""

_P, _I64, _F32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float
_SIGNATURES: dict[str, tuple[list[Any], Any]] = {
    "fs_predict": ([_P, _I64, _I64, _P, _P, _P, _P, _I64, _F32, ctypes.c_int32, _P], None),
    "fs_contrib": ([_P, _I64, _I64, _P, _P, _P, _P, _I64, _F32, _P, _P], None),
}
# Tests switch the walker off here to exercise the XGBoost fallback.
ENABLED = True


def _kernel() -> ctypes.CDLL | None:
    """The compiled walker, or None (no compiler, or switched off)."""
    return load_kernel("forest", _SOURCE, _SIGNATURES) if ENABLED else None


class CompiledForest:
    """The trees of a binary XGBoost ``gbtree`` booster in flat arrays, walked in C.

    Build with :meth:`build` (None when the model or machine does not qualify).

    Example:
        >>> import xgboost as xgb
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(300, 3)); y = (x[:, 0] > 0.5).astype(int)
        >>> b = xgb.train({"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(x, y), 10)
        >>> f = CompiledForest.build(b, 3)
        >>> f is None or bool(np.allclose(f.predict(x), b.inplace_predict(x), atol=1e-6))
        True
    """

    def __init__(self, trees: list[dict[str, Any]], n_features: int, base_margin: float) -> None:
        sizes = [len(t["left_children"]) for t in trees]
        roots = np.cumsum([0, *sizes[:-1]]).astype(np.int32)
        nodes = np.zeros(int(sum(sizes)), dtype=NODE)
        value = np.zeros(nodes.shape[0], dtype=np.float32)
        mean = np.zeros(nodes.shape[0], dtype=np.float32)
        depth = np.zeros(len(trees), dtype=np.int32)
        for k, t in enumerate(trees):
            r, size = int(roots[k]), sizes[k]
            left = np.asarray(t["left_children"], dtype=np.int32)
            leaf = left == -1
            own = np.arange(size, dtype=np.int32) + r
            blk = nodes[r : r + size]
            blk["left"] = np.where(leaf, own, left + r)
            blk["right"] = np.where(leaf, own, np.asarray(t["right_children"], dtype=np.int32) + r)
            blk["thr"] = np.asarray(t["split_conditions"], dtype=np.float32)
            blk["feat"] = np.where(leaf, 0, np.asarray(t["split_indices"], dtype=np.int64))
            blk["defl"] = np.where(leaf, 1, np.asarray(t["default_left"], dtype=np.uint8))
            nodes[r : r + size] = blk
            value[r : r + size] = np.where(leaf, blk["thr"], 0.0)
            mean[r : r + size], depth[k] = _node_means(t)
        self.nodes, self.value, self.mean = nodes, value, mean
        self.roots, self.depth = roots, depth
        self.n_features = n_features
        self.base_margin = np.float32(base_margin)
        self.n_trees = len(trees)

    @classmethod
    def build(cls, booster: Any, n_features: int) -> CompiledForest | None:
        """The compiled twin of ``booster``, or None (then keep using XGBoost)."""
        if _kernel() is None:
            return None
        model = json.loads(bytes(booster.save_raw("json")))
        learner = model["learner"]
        gb = learner["gradient_booster"]
        if gb.get("name") != "gbtree" or learner["objective"]["name"] != "binary:logistic":
            return None
        trees = gb["model"]["trees"]
        if not trees or any(any(t["split_type"]) for t in trees):
            return None  # categorical splits are not walked here
        base = np.float32(str(learner["learner_model_param"]["base_score"]).strip("[]"))
        # XGBoost's ProbToMargin, in float32: -log(1 / base - 1).
        margin = -np.log(np.float64(np.float32(1.0) / base - np.float32(1.0)))
        forest = cls(trees, n_features, float(np.float32(margin)))
        if not forest.agrees_with(booster):
            log.warning("compiled forest disagrees with XGBoost on probe rows: not used")
            return None
        return forest

    def _x32(self, x: np.ndarray) -> np.ndarray:
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        if x32.ndim != 2 or x32.shape[1] != self.n_features:
            raise ValueError(f"expected [n, {self.n_features}] features, got {x32.shape}")
        return x32

    def _walk(self, x: np.ndarray, probability: bool) -> np.ndarray:
        x32 = self._x32(x)
        out = np.empty(x32.shape[0], dtype=np.float32)
        lib = _kernel()
        assert lib is not None  # build() checked
        lib.fs_predict(ptr(x32), x32.shape[0], self.n_features, ptr(self.nodes),
                       ptr(self.value), ptr(self.roots), ptr(self.depth), self.n_trees,
                       self.base_margin, int(probability), ptr(out))  # fmt: skip
        return out

    def margin(self, x: np.ndarray) -> np.ndarray:
        """Raw log-odds per row (float32), as XGBoost's ``predict_type="margin"``."""
        return self._walk(x, probability=False)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Probability per row (float32), as XGBoost's ``inplace_predict``."""
        return self._walk(x, probability=True)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Approximate contributions ``[n, f + 1]`` (last column: bias), as XGBoost's."""
        x32 = self._x32(x)
        out = np.zeros((x32.shape[0], self.n_features + 1), dtype=np.float32)
        scratch = np.zeros(self.n_features, dtype=np.float32)
        lib = _kernel()
        assert lib is not None
        lib.fs_contrib(ptr(x32), x32.shape[0], self.n_features, ptr(self.nodes),
                       ptr(self.mean), ptr(self.roots), ptr(self.depth), self.n_trees,
                       self.base_margin,
                       ptr(out), ptr(scratch))  # fmt: skip
        return out

    def probe_rows(self, n: int = 256, seed: int = 0) -> np.ndarray:
        """Rows whose values sit on, just below and just above the model's thresholds, or NaN."""
        rng = np.random.default_rng(seed)
        inner = self.nodes[self.nodes["left"] != np.arange(self.nodes.shape[0])]
        x = rng.normal(size=(n, self.n_features)).astype(np.float32)
        for f in range(self.n_features):
            thr = inner["thr"][inner["feat"] == f]
            if thr.size:
                pick = rng.choice(thr, size=n)
                nudge = rng.choice(np.array([-1, 0, 1]), size=n)
                up, down = np.nextafter(pick, np.inf), np.nextafter(pick, -np.inf)
                x[:, f] = np.where(nudge < 0, down, np.where(nudge > 0, up, pick))
        x[rng.random(x.shape) < 0.1] = np.nan
        return x

    def agrees_with(self, booster: Any, atol: float = 1e-5) -> bool:
        """Margins and approximate contributions equal XGBoost's on :meth:`probe_rows`."""
        import xgboost as xgb

        x = self.probe_rows()
        want = booster.inplace_predict(x, missing=np.nan, predict_type="margin")
        if not np.allclose(self.margin(x), want, rtol=0.0, atol=atol):
            return False
        want = booster.inplace_predict(x, missing=np.nan)
        if not np.allclose(self.predict(x), want, rtol=0.0, atol=atol):
            return False
        d = xgb.DMatrix(x, missing=np.nan)
        contrib = booster.predict(
            d, pred_contribs=True, approx_contribs=True, validate_features=False
        )
        return bool(np.allclose(self.contributions(x), contrib, rtol=0.0, atol=atol))


def _node_means(tree: dict[str, Any]) -> tuple[np.ndarray, int]:
    """XGBoost's node mean values (hessian-weighted leaf means, float32) and the tree depth."""
    left = tree["left_children"]
    right = tree["right_children"]
    hess = np.asarray(tree["sum_hessian"], dtype=np.float32)
    leafv = np.asarray(tree["split_conditions"], dtype=np.float32)
    mean = np.zeros(len(left), dtype=np.float32)
    level = np.zeros(len(left), dtype=np.int32)
    order = [0]
    for nid in order:  # breadth-first: parents before children
        if left[nid] != -1:
            level[left[nid]] = level[right[nid]] = level[nid] + 1
            order += [left[nid], right[nid]]
    for nid in reversed(order):  # children before parents
        if left[nid] == -1:
            mean[nid] = leafv[nid]
        else:
            a, b = left[nid], right[nid]
            mean[nid] = (mean[a] * hess[a] + mean[b] * hess[b]) / hess[nid]
    return mean, int(level.max())
