"""uint8 (C, H, W) images -> QImage / QPixmap thumbnails, on the GUI thread (cheap copies)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap


def to_qimage(img: np.ndarray) -> QImage:
    """A deep-copied QImage of one uint8 image (C, H, W) with C = 1 or 3."""
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = np.transpose(a, (1, 2, 0))  # (H, W, C)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    a = np.ascontiguousarray(a, dtype=np.uint8)
    h, w = a.shape[:2]
    if a.ndim == 2:
        q = QImage(a.data, w, h, a.strides[0], QImage.Format.Format_Grayscale8)
    else:
        q = QImage(a.data, w, h, a.strides[0], QImage.Format.Format_RGB888)
    return q.copy()  # own the pixels: ``a`` dies with this frame


def thumbnail(img: np.ndarray, size: int = 48, invert_gray: bool = False) -> QPixmap:
    """A square pixmap of ``size`` px, nearest-neighbour upscaled for tiny images (8x8 digits)."""
    a = np.asarray(img)
    if invert_gray and a.shape[0] == 1:
        a = 255 - a
    q = to_qimage(a)
    mode = Qt.TransformationMode.FastTransformation if max(q.width(), q.height()) < size else Qt.TransformationMode.SmoothTransformation
    return QPixmap.fromImage(q.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio, mode))


def strip(images: np.ndarray, size: int = 28, gap: int = 2, invert_gray: bool = False) -> QPixmap:
    """Several images side by side in one pixmap (the per-class strip of the data pane)."""
    n = len(images)
    out = QPixmap(max(1, n * (size + gap) - gap), size)
    out.fill(Qt.GlobalColor.transparent)
    from PySide6.QtGui import QPainter

    p = QPainter(out)
    for i, img in enumerate(images):
        p.drawPixmap(i * (size + gap), 0, thumbnail(img, size, invert_gray))
    p.end()
    return out
