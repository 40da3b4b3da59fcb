"""ImageFolder trees (``root/<class>/<images>``), the torchvision convention, read with Pillow.

Either ``root/train/<class>/…`` plus ``root/test/<class>/…``, or a single ``root/<class>/…`` tree
that is split 80/20 per class with a seeded generator. Class indices follow the sorted folder
names (as in torchvision). Images become greyscale (1 channel) when every file is a grey mode,
RGB otherwise; files of another size are resized (bilinear) to the size of the first image, so
mixed-size folders load but look their best when all files share one size.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from engine.data.bundle import DatasetBundle
from engine.data.npz import make_bundle
from engine._core.errors import BadDataset, DatasetMissing
from engine._core.limits import check_allocation

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})
TEST_FRACTION = 0.2
_BOMB_HINT = "use ordinary-sized images (Lethe trains on small images; resize them first)"


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per class, a seeded shuffle puts round(fraction * count) rows in test (at least 1 if the
    class has 2 or more rows, never all of them); returns sorted (train_idx, test_idx)."""
    rng = np.random.default_rng(seed)
    train: list[np.ndarray] = []
    test: list[np.ndarray] = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = idx.shape[0]
        k = 0 if n < 2 else min(max(int(np.floor(test_fraction * n + 0.5)), 1), n - 1)
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _visible(p: Path) -> bool:
    return not p.name.startswith(".")


def _class_dirs(root: Path) -> list[Path]:
    return sorted((p for p in root.iterdir() if p.is_dir() and _visible(p)), key=lambda p: p.name)


def _image_files(class_dir: Path) -> list[Path]:
    return sorted(
        p for p in class_dir.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and _visible(p)
        and all(_visible(q) for q in p.relative_to(class_dir).parents if q != Path("."))
    )


def _collect(root: Path, class_index: dict[str, int]) -> list[tuple[Path, int]]:
    items: list[tuple[Path, int]] = []
    for d in _class_dirs(root):
        if d.name not in class_index:
            raise BadDataset(f"{d}: class {d.name!r} is not among the training classes {sorted(class_index)}")
        files = _image_files(d)
        items.extend((f, class_index[d.name]) for f in files)
    return items


def _pixel_limit() -> int | None:
    """Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``; None when a program turned it off)."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    return int(limit) if limit else None


def _open_checked(path: Path) -> Any:
    """``Image.open`` with Pillow's decompression-bomb guard honoured: an image over the pixel
    limit is a BadDataset naming the file (Pillow itself only warns between 1x and 2x the limit)."""
    from PIL import Image, UnidentifiedImageError

    try:
        im = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise BadDataset(f"{path}: refused as a decompression bomb ({exc})", hint=_BOMB_HINT) from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError) as exc:
        raise BadDataset(f"{path}: not a readable image ({exc})") from exc
    limit = _pixel_limit()
    w, h = im.size
    if limit is not None and w * h > limit:
        im.close()
        raise BadDataset(f"{path}: {w}x{h} = {w * h:,} pixels is over Pillow's decompression-bomb limit "
                         f"of {limit:,} pixels; refused before decoding", hint=_BOMB_HINT)
    return im


def _read_images(items: list[tuple[Path, int]]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    modes: list[str] = []
    size: tuple[int, int] | None = None
    for path, _ in items:  # headers only: decide grey vs RGB and the target size
        with _open_checked(path) as im:
            modes.append(im.mode)
            size = size or im.size
    assert size is not None
    grey = all(m in GREY_MODES for m in modes)
    mode = "L" if grey else "RGB"
    shape = (len(items), size[1], size[0], 1 if grey else 3)
    check_allocation(math.prod(shape), error=BadDataset,
                     what=f"{len(items):,} images of {size[0]}x{size[1]} pixels")
    out = np.empty(shape, dtype=np.uint8)
    for i, (path, _) in enumerate(items):
        try:
            with _open_checked(path) as im:
                im = im.convert(mode)
                if im.size != size:
                    im = im.resize(size, Image.Resampling.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except BadDataset:
            raise
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
            raise BadDataset(f"{path}: not a readable image ({exc})") from exc
        out[i] = arr.reshape(out.shape[1:])
    return out


def load_folder(path: str | Path, seed: int = 0, source: str | None = None) -> DatasetBundle:
    """Load an ImageFolder tree; name = the folder's name."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetMissing(f"no such image folder: {root}", hint="check the path after 'folder:'")
    split_roots = (root / "train", root / "test")
    presplit = all(p.is_dir() for p in split_roots)
    for have, lack in (split_roots, split_roots[::-1]):
        if have.is_dir() and not lack.is_dir() and _class_dirs(have):
            raise BadDataset(
                f"{root}: found {have.name}/<class> folders but no {lack.name}/ folder",
                hint=f"add {lack}/<class>/<images>, or put the class folders directly in {root}",
            )
    class_root = split_roots[0] if presplit else root
    class_dirs = _class_dirs(class_root)
    if not class_dirs:
        raise BadDataset(
            f"{class_root}: no class folders; expected {class_root}/<class name>/<image files>",
            hint="make one sub-folder per class, or use root/train/<class> and root/test/<class>",
        )
    classes = [d.name for d in class_dirs]
    class_index = {name: i for i, name in enumerate(classes)}
    for d in class_dirs:
        if not _image_files(d):
            raise BadDataset(f"{d}: no image files ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    train_items = _collect(class_root, class_index)
    test_items = _collect(split_roots[1], class_index) if presplit else []
    if presplit and not test_items:
        raise BadDataset(f"{split_roots[1]}: no image files in any class folder")
    images = _read_images(train_items + test_items)
    labels = np.array([c for _, c in train_items + test_items], dtype=np.int64)
    if presplit:
        n = len(train_items)
        x_train, y_train, x_test, y_test = images[:n], labels[:n], images[n:], labels[n:]
    else:
        tr, te = stratified_split(labels, TEST_FRACTION, seed)
        if te.size == 0:
            raise BadDataset(f"{root}: too few images to hold out a test split (need 2 or more in a class)")
        x_train, y_train, x_test, y_test = images[tr], labels[tr], images[te], labels[te]
    name = root.resolve().name or "folder"
    return make_bundle(name, source or f"folder:{root}", x_train, y_train, x_test, y_test, classes)
