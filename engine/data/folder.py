"""ImageFolder trees (``root/<class>/<images>``), the torchvision convention, read with Pillow.

Either ``root/train/<class>/…`` plus ``root/test/<class>/…`` (``val/``, ``valid/`` or
``validation/`` also count as the test split), or a single ``root/<class>/…`` tree that is split
80/20 per class with a seeded generator. Class indices follow the sorted folder names (as in
torchvision). Images become greyscale (1 channel) when every file is a grey mode, RGB otherwise;
16-bit (and 32-bit integer) greyscale is scaled to 8 bits, never clipped. Files of another size
are resized (bilinear) to the most common size, or to ``size`` (``folder:<path>@<size>``), and
unreadable files are skipped; both are counted in the bundle's ``notes``.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
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
GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
WIDE_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})  # more than 8 bits a pixel
TEST_DIRS = ("test", "val", "valid", "validation")
TEST_FRACTION = 0.2
_MAX_LISTED = 3
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


def to_8bit(im: Any) -> Any:
    """A 16-bit (``I;16*``), 32-bit integer (``I``) or float (``F``) greyscale image as 8-bit ``L``, scaled.

    16-bit values map 0..65535 -> 0..255 (``round(v / 257)``); ``I`` images whose values stay within
    0..255 are taken as 8-bit, wider ones as 16-bit; ``F`` in [0, 1] is scaled by 255. Pillow's own
    ``convert("L")`` clips instead, turning every non-zero 16-bit pixel white.
    """
    from PIL import Image

    if im.mode not in WIDE_MODES:
        return im
    arr = np.asarray(im).astype(np.float64)
    top = float(arr.max()) if arr.size else 0.0
    if im.mode == "F":
        scale = 255.0 if top <= 1.0 else 1.0
    elif im.mode == "I" and top <= 255:
        scale = 1.0
    else:
        scale = 255.0 / (65535.0 if top <= 65535 else top)
    return Image.fromarray(np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8), "L")


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


def _read_images(items: list[tuple[Path, int]], size: tuple[int, int] | None = None
                 ) -> tuple[np.ndarray, list[int], list[str]]:
    """(images uint8 (N, H, W, C), indices of ``items`` kept, notes); unreadable files are skipped.

    ``size`` (width, height) defaults to the most common size among the files.
    """
    from PIL import Image, UnidentifiedImageError

    headers: list[tuple[int, str, tuple[int, int]]] = []
    skipped: list[str] = []
    for i, (path, _) in enumerate(items):  # headers only: decide grey vs RGB and the target size
        try:
            with _open_checked(path) as im:
                headers.append((i, im.mode, im.size))
        except BadDataset as exc:
            if exc.hint == _BOMB_HINT:  # a decompression bomb refuses the folder, not just the file
                raise
            skipped.append(f"{path.name} ({exc.message})")
    if not headers:
        raise BadDataset(f"no readable image among {len(items)} files (e.g. {skipped[0] if skipped else '-'})")
    grey = all(m in GREY_MODES for _, m, _ in headers)
    mode = "L" if grey else "RGB"
    sizes = Counter(sz for _, _, sz in headers)
    target = size or sizes.most_common(1)[0][0]
    notes: list[str] = []
    off = sum(n for sz, n in sizes.items() if sz != target)
    if off:
        how = "the size asked for" if size else "the most common size; choose another with folder:<path>@<size>"
        shown = ", ".join(f"{w}x{h}" for (w, h), _ in sizes.most_common(_MAX_LISTED) if (w, h) != target)
        notes.append(f"{off} of {len(headers)} images are not {target[0]}x{target[1]} (e.g. {shown}); "
                     f"resized to {target[0]}x{target[1]}, {how}")
    shape = (len(headers), target[1], target[0], 1 if grey else 3)
    check_allocation(math.prod(shape), error=BadDataset,
                     what=f"{len(headers):,} images of {target[0]}x{target[1]} pixels")
    out = np.empty(shape, dtype=np.uint8)
    kept: list[int] = []
    for i, _, _ in headers:
        path = items[i][0]
        try:
            with _open_checked(path) as im:
                im = to_8bit(im).convert(mode)
                if im.size != target:
                    im = im.resize(target, Image.Resampling.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except BadDataset as exc:
            if exc.hint == _BOMB_HINT:
                raise
            skipped.append(f"{path.name} ({exc.message})")
            continue
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError) as exc:
            skipped.append(f"{path.name} ({exc})")
            continue
        out[len(kept)] = arr.reshape(out.shape[1:])
        kept.append(i)
    if skipped:
        more = f" and {len(skipped) - _MAX_LISTED} more" if len(skipped) > _MAX_LISTED else ""
        notes.append(f"skipped {len(skipped)} unreadable image file(s): {'; '.join(skipped[:_MAX_LISTED])}{more}")
    return out[: len(kept)], kept, notes


def load_folder(path: str | Path, seed: int = 0, source: str | None = None, size: int | None = None) -> DatasetBundle:
    """Load an ImageFolder tree; name = the folder's name; ``size``: resize every image to size x size."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetMissing(f"no such image folder: {root}", hint="check the path after 'folder:'")
    train_root = root / "train"
    test_root = next((root / d for d in TEST_DIRS if (root / d).is_dir()), root / "test")
    split_roots = (train_root, test_root)
    presplit = all(p.is_dir() for p in split_roots)
    for have, lack in (split_roots, split_roots[::-1]):
        if have.is_dir() and not lack.is_dir() and _class_dirs(have):
            lacking = "test/ folder (nor val/ or valid/)" if lack is test_root else f"{lack.name}/ folder"
            raise BadDataset(
                f"{root}: found {have.name}/<class> folders but no {lacking}",
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
    items = train_items + test_items
    images, kept, notes = _read_images(items, (size, size) if size else None)
    labels = np.array([items[i][1] for i in kept], dtype=np.int64)
    empty = sorted(set(range(len(classes))) - set(int(c) for c in labels))
    if empty:
        raise BadDataset(f"{root}: no readable image in class folder(s) {', '.join(classes[c] for c in empty)}")
    if presplit:
        n = sum(1 for i in kept if i < len(train_items))
        x_train, y_train, x_test, y_test = images[:n], labels[:n], images[n:], labels[n:]
        if len(x_test) == 0:
            raise BadDataset(f"{split_roots[1]}: no readable image in any class folder")
    else:
        tr, te = stratified_split(labels, TEST_FRACTION, seed)
        if te.size == 0:
            raise BadDataset(f"{root}: too few images to hold out a test split (need 2 or more in a class)")
        x_train, y_train, x_test, y_test = images[tr], labels[tr], images[te], labels[te]
    if presplit and test_root.name != "test":
        notes.append(f"{test_root.name}/ is used as the test split")
    name = root.resolve().name or "folder"
    bundle = make_bundle(name, source or f"folder:{root}", x_train, y_train, x_test, y_test, classes)
    return dataclasses.replace(bundle, notes=tuple(notes)) if notes else bundle
