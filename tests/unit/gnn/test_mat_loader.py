"""CARE-GNN .mat loader: both namings, gzip, relations, typed errors."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from fraudstream.detect.gnn.mat_loader import load_care_mat
from fraudstream.errors import ValidationError


def _save(path: Path, mat: dict[str, object], gz: bool) -> Path:
    buf = io.BytesIO()
    scipy.io.savemat(buf, mat)
    data = buf.getvalue()
    if gz:
        path = path.with_suffix(".mat.gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def _ring(n: int) -> sp.csr_matrix:
    rows = np.arange(n)
    return sp.csr_matrix((np.ones(n), (rows, (rows + 1) % n)), shape=(n, n))


def test_tam_naming_gzip(tmp_path: Path) -> None:
    x = sp.csc_matrix(np.arange(12, dtype=float).reshape(4, 3))
    p = _save(
        tmp_path / "a.mat",
        {"Attributes": x, "Label": np.array([[0], [1], [0], [0]], np.uint8), "Network": _ring(4)},
        gz=True,
    )
    g = load_care_mat(p)
    assert g.x.shape == (4, 3) and g.x.dtype == np.float32
    assert g.y.tolist() == [0, 1, 0, 0]
    assert g.num_edges == 4  # ring, symmetrised
    assert (g.homo != g.homo.T).nnz == 0
    assert list(g.relations) == ["homo"]
    assert g.edge_index().shape == (2, 8)


def test_care_naming_with_relations(tmp_path: Path) -> None:
    n = 5
    r1 = sp.csr_matrix(([1.0], ([0], [1])), shape=(n, n))
    r2 = sp.csr_matrix(([1.0, 1.0], ([2, 3], [3, 4])), shape=(n, n))
    p = _save(
        tmp_path / "b.mat",
        {
            "features": np.ones((n, 2)),
            "label": np.array([0, 0, 1, 0, 1]),
            "net_upu": r1,
            "net_usu": r2,
        },
        gz=False,
    )
    g = load_care_mat(p)
    assert sorted(g.relations) == ["net_upu", "net_usu"]
    assert g.relations["net_usu"].nnz == 4
    # homo is built from the relations when the file has none
    assert g.num_edges == 3


def test_self_loops_and_weights_are_cleaned(tmp_path: Path) -> None:
    a = sp.csr_matrix(np.array([[1.0, 3.0], [0.0, 0.0]]))
    p = _save(
        tmp_path / "c.mat", {"features": np.ones((2, 1)), "label": [[0], [1]], "homo": a}, False
    )
    g = load_care_mat(p)
    assert g.homo.toarray().tolist() == [[0.0, 1.0], [1.0, 0.0]]


@pytest.mark.parametrize(
    "mat, field",
    [
        ({"label": [[0]], "homo": sp.csr_matrix((1, 1))}, "features"),
        ({"features": np.ones((2, 1)), "homo": sp.csr_matrix((2, 2))}, "label"),
        ({"features": np.ones((2, 1)), "label": [[0], [1]]}, "homo"),
        (
            {"features": np.ones((2, 1)), "label": [[0], [2]], "homo": sp.csr_matrix((2, 2))},
            "label",
        ),
        ({"features": np.ones((2, 1)), "label": [[0], [1]], "homo": sp.csr_matrix((3, 3))}, "homo"),
    ],
)
def test_bad_files_raise_typed_errors(tmp_path: Path, mat: dict[str, object], field: str) -> None:
    p = _save(tmp_path / "bad.mat", mat, gz=False)
    with pytest.raises(ValidationError) as err:
        load_care_mat(p)
    assert err.value.field == field


def test_missing_and_garbage_files(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        load_care_mat(tmp_path / "nope.mat")
    junk = tmp_path / "junk.mat.gz"
    junk.write_bytes(gzip.compress(b"not a mat file at all"))
    with pytest.raises(ValidationError):
        load_care_mat(junk)
