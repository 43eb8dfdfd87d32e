"""MNIST from the four original IDX ``.gz`` files, held whole on the training device.

The directory is an argument; without one, ``$MNIST_DIR`` or ``data/mnist``. Missing files
are downloaded from a public mirror and accepted only when their md5 matches the published
one, and files already there are checked against the same md5 before they are read (once per
file and modification time in a process), so a truncated or substituted file never reaches
training: it is a :class:`~core.errors.DataError` naming the file and what to do. Batches are index slices
of the tensors returned here (no DataLoader, no worker processes): for a 47 MB dataset the
copy to the device happens once and every step afterwards is a gather on the device.

A validation set is held out of the 60,000 training images by :meth:`MNIST.hold_out`
(class-stratified, fixed by a data seed; :func:`stratified_split` gives the indices), so that
a search chooses on validation and touches the test set only when confirming.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from core.errors import DataError

__all__ = ["MNIST", "MNIST_FILES", "MNIST_MIRRORS", "MNIST_TRAIN_SIZE", "load_mnist", "ensure_mnist", "mnist_dir",
           "stratified_split", "verify_mnist"]

# file name -> md5 of the .gz file (the values published with the dataset)
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MNIST_TRAIN_SIZE = 60000  # images in the published training set
# the usual normalisation constants (mean and std of the training pixels in [0, 1])
_MEAN, _STD = 0.1307, 0.3081


@dataclass(frozen=True)
class MNIST:
    """Flattened, normalised images ``(n, 784)`` float32 and labels ``(n,)`` int64, on one device.

    ``val_x``/``val_y`` are the validation rows held out of the training set by
    :meth:`hold_out` (``None`` when there is no validation set).
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    val_x: torch.Tensor | None = None
    val_y: torch.Tensor | None = None

    @property
    def n_inputs(self) -> int:
        return self.train_x.shape[1]

    def subset(self, n_train: int = 0, n_test: int = 0) -> "MNIST":
        """The first ``n_train`` / ``n_test`` examples (0 keeps all); for quick tests. Validation is kept whole."""
        tr = slice(None, n_train or None)
        te = slice(None, n_test or None)
        return dataclasses.replace(self, train_x=self.train_x[tr], train_y=self.train_y[tr],
                                   test_x=self.test_x[te], test_y=self.test_y[te])

    def hold_out(self, n_val: int, seed: int, n_train: int = 0) -> "MNIST":
        """``n_val`` training rows moved to ``val_x``/``val_y`` by :func:`stratified_split`.

        The split is made on the whole training set; then only the first ``n_train`` kept rows
        (0 keeps all) stay for training, so a small training subset still validates on the
        same images. Kept rows stay in their original order, validation rows are in ascending
        original index. ``n_val`` 0: no validation set, the first ``n_train`` rows train.
        """
        if self.val_x is not None:
            raise ValueError("hold_out: this dataset already has a validation set")
        if n_val == 0:
            return self.subset(n_train)
        keep, val = stratified_split(self.train_y, n_val, seed)
        keep, val = keep[: n_train or None].to(self.train_x.device), val.to(self.train_x.device)
        return dataclasses.replace(self, train_x=self.train_x[keep], train_y=self.train_y[keep],
                                   val_x=self.train_x[val], val_y=self.train_y[val])


def stratified_split(labels: torch.Tensor, n_val: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(keep, val)`` (ascending, CPU int64) splitting ``labels`` into two disjoint sets.

    ``val`` holds exactly ``n_val`` rows; each class's count in it is its share of ``labels``
    times ``n_val``, rounded by largest remainder (ties to the smaller class). Which rows of a
    class are drawn depends only on ``seed`` (a CPU generator), never on the device or on the
    global random state.
    """
    y = labels.detach().cpu().long()
    n = y.shape[0]
    if not 0 <= n_val < n:
        raise ValueError(f"stratified_split: n_val must be in [0, {n - 1}], got {n_val}")
    counts = torch.bincount(y).tolist()
    exact = [n_val * c / n for c in counts]
    quota = [int(e) for e in exact]
    by_remainder = sorted(range(len(counts)), key=lambda k: (-(exact[k] - quota[k]), k))
    for k in by_remainder[: n_val - sum(quota)]:
        quota[k] += 1
    gen = torch.Generator().manual_seed(seed)
    is_val = torch.zeros(n, dtype=torch.bool)
    for k, q in enumerate(quota):
        rows = (y == k).nonzero().squeeze(1)
        is_val[rows[torch.randperm(rows.shape[0], generator=gen)[:q]]] = True
    return (~is_val).nonzero().squeeze(1), is_val.nonzero().squeeze(1)


def mnist_dir(directory: str | os.PathLike | None = None) -> Path:
    """The directory used: the argument, else ``$MNIST_DIR``, else ``data/mnist``."""
    return Path(directory or os.environ.get("MNIST_DIR") or "data/mnist")


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download(name: str, md5: str, target: Path, mirrors: Sequence[str], timeout: float) -> None:
    errors = []
    for base in mirrors:
        url = base.rstrip("/") + "/" + name
        # write to a temporary file in the same directory so a failed or corrupt download
        # never leaves a file under the final name
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                shutil.copyfileobj(resp, out)
            got = _md5(Path(tmp))
            if got != md5:
                errors.append(f"{url}: md5 {got}, expected {md5}")
                continue
            os.replace(tmp, target)
            return
        except OSError as err:
            errors.append(f"{url}: {err}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise DataError(
        f"MNIST file {target} is missing and could not be downloaded ({'; '.join(errors)}): copy the four "
        "original IDX .gz files there, or point $MNIST_DIR at a folder that has them"
    )


def ensure_mnist(
    directory: str | os.PathLike | None = None,
    *,
    download: bool = True,
    mirrors: Sequence[str] = MNIST_MIRRORS,
    timeout: float = 60.0,
) -> Path:
    """Make sure the four files are in the directory (downloading missing ones); return it."""
    root = mnist_dir(directory)
    missing = [n for n in MNIST_FILES if not (root / n).is_file()]
    if missing and not download:
        raise FileNotFoundError(f"MNIST files missing in {root}: {', '.join(missing)} (download disabled)")
    if missing:
        root.mkdir(parents=True, exist_ok=True)
    for name in missing:
        _download(name, MNIST_FILES[name], root / name, mirrors, timeout)
    return verify_mnist(root)


_VERIFIED: set[tuple[str, int, int]] = set()  # (path, size, mtime_ns) of files whose md5 matched


def verify_mnist(directory: str | os.PathLike | None = None) -> Path:
    """Check the four files against their published md5 (a missing, truncated or replaced file is a
    :class:`DataError` naming it and what to do); return the directory. Each file is hashed once per
    process and modification time (about 0.1 s for all four)."""
    root = mnist_dir(directory)
    for name, md5 in MNIST_FILES.items():
        path = root / name
        try:
            st = path.stat()
        except OSError:
            raise DataError(
                f"MNIST file {path} is missing: copy the four original IDX .gz files into {root}, "
                "or point $MNIST_DIR at a folder that has them"
            ) from None
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key in _VERIFIED:
            continue
        got = _md5(path)
        if got != md5:
            raise DataError(
                f"MNIST file {path} is not the original ({st.st_size:,} bytes, md5 {got}, expected {md5}): "
                "truncated or replaced; delete it to download it again, or copy the original"
            )
        _VERIFIED.add(key)
    return root


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    if data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape}, file holds {arr.size} bytes")
    return arr.reshape(shape)


_CACHE: dict[tuple[str, str, str], MNIST] = {}


def load_mnist(
    directory: str | os.PathLike | None = None,
    *,
    device: str | torch.device = "cpu",
    download: bool = True,
    mirrors: Sequence[str] = MNIST_MIRRORS,
    scaling: str = "standard",
) -> MNIST:
    """The whole of MNIST on ``device``, flattened to 784 inputs.

    ``scaling``: ``standard`` (the usual mean/std normalisation: background pixels are
    -0.42) or ``unit`` (pixels in [0, 1]: background pixels are exactly 0, so a synapse on
    a pixel that is always blank gets no gradient at all). Cached per (directory, device,
    scaling) within the process: trials run one after another in a worker read the files once.
    """
    if scaling not in ("standard", "unit"):
        raise ValueError(f"unknown scaling {scaling!r}; expected standard, unit")
    root = ensure_mnist(directory, download=download, mirrors=mirrors)
    key = (str(root.resolve()), str(torch.device(device)), scaling)
    if key not in _CACHE:

        def images(name: str) -> torch.Tensor:
            x = torch.from_numpy(_read_idx(root / name).reshape(-1, 28 * 28).astype(np.float32)) / 255.0
            return (x if scaling == "unit" else (x - _MEAN) / _STD).to(device)

        def labels(name: str) -> torch.Tensor:
            return torch.from_numpy(_read_idx(root / name).astype(np.int64)).to(device)

        _CACHE[key] = MNIST(
            images("train-images-idx3-ubyte.gz"),
            labels("train-labels-idx1-ubyte.gz"),
            images("t10k-images-idx3-ubyte.gz"),
            labels("t10k-labels-idx1-ubyte.gz"),
        )
    return _CACHE[key]
