"""Architectures beyond Lethe's own: any ``nn.Module`` classifier wrapped into the Lethe contract.

``"torchvision:<builder>"`` (e.g. ``torchvision:resnet18``, ``torchvision:mobilenet_v3_small``),
``"timm:<name>"`` (only when timm is installed) and plugin builders registered with
:func:`register_module` all become a :class:`WrappedModel`: the network's *final* ``nn.Linear``
(found generically, then checked to be the last operation of the forward pass) is taken out and
becomes ``head``; what remains is ``net``, so ``features(x) = net(x)`` is the pooled pre-logit
output and ``forward(x) = head(features(x))`` equals the original network's output. Every method,
metric, the live view and POUR then work unchanged.

State-dict names are ``net.<original name>`` and ``head.weight``/``head.bias``; a state dict saved
from the original network (``fc.weight``, ``classifier.3.weight``, ...) is mapped onto them by
``engine.models.dialects`` through :attr:`WrappedModel.native_names`.
"""
from __future__ import annotations

import copy
import functools
import importlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from engine._core.errors import BadSpec, UnknownName
from engine.models.base import LetheModel
from engine.models.registry import make_config, register_family, register_model

ModuleBuilder = Callable[..., nn.Module]
_CHECKED: set[str] = set()  # configs whose head was verified to be the final operation


def final_linear(net: nn.Module) -> tuple[str, nn.Linear]:
    """The qualified name and module of the last-registered ``nn.Linear`` in ``net``.

    Raises BadSpec when the network has none (e.g. SqueezeNet's classifier is a convolution).
    """
    found: tuple[str, nn.Linear] | None = None
    for name, module in net.named_modules():
        if isinstance(module, nn.Linear):
            found = (name, module)
    if found is None:
        raise BadSpec(f"{type(net).__name__} has no nn.Linear classifier layer",
                      hint="Lethe needs a final nn.Linear head (SqueezeNet-style convolution classifiers are not supported)")
    return found


def _replace(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, leaf = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, leaf, new)


def _adapt_in_channels(net: nn.Module, in_channels: int) -> None:
    """Give the first convolution ``in_channels`` inputs (greyscale data on an RGB architecture)."""
    for name, module in net.named_modules():
        if isinstance(module, nn.Conv2d):
            if module.in_channels == in_channels:
                return
            if module.groups != 1:
                break
            conv = nn.Conv2d(in_channels, module.out_channels, module.kernel_size, module.stride,  # type: ignore[arg-type]
                             module.padding, module.dilation, bias=module.bias is not None,  # type: ignore[arg-type]
                             padding_mode=module.padding_mode)
            _replace(net, name, conv)
            return
    raise BadSpec(f"cannot give {type(net).__name__} {in_channels} input channels (no plain first convolution)",
                  hint="use an architecture made for this many channels, or a dataset with 3-channel images")


def _check_head_is_last(net: nn.Module, head_name: str, in_channels: int, image_size: tuple[int, int]) -> None:
    """The head's output must be the network's output (nothing after it), checked on the meta device."""
    net_meta = _clone_to_meta(net)
    if net_meta is None:
        return
    head = net_meta.get_submodule(head_name)
    seen: list[torch.Tensor] = []
    handle = head.register_forward_hook(lambda _m, _i, out: seen.append(out))
    try:
        with torch.no_grad():
            out = net_meta.eval()(torch.empty(2, in_channels, *image_size, device="meta"))
    except Exception as exc:  # any failure of a foreign forward pass is reported the same way
        raise BadSpec(f"{type(net).__name__} cannot run on {in_channels}x{image_size[0]}x{image_size[1]} images ({exc})",
                      hint="use images of the size the architecture expects") from exc
    finally:
        handle.remove()
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not seen or seen[-1] is not out:
        raise BadSpec(f"{type(net).__name__}: its last nn.Linear ({head_name}) is not the final operation",
                      hint="wrap the network as a LetheModel yourself (features() and head) and register it")


def _clone_to_meta(net: nn.Module) -> nn.Module | None:
    try:
        meta = copy.deepcopy(net).to("meta")
    except (RuntimeError, NotImplementedError):  # exotic parametrisations: skip the check
        return None
    return meta


class WrappedModel(LetheModel):
    """A foreign classifier: ``net`` (the network with its final Linear replaced by Identity) + ``head``."""

    def __init__(self, config: dict[str, Any], net: nn.Module, *, check: bool = True) -> None:
        super().__init__(config)
        in_channels = int(config["in_channels"])
        image_size = (int(config["image_size"][0]), int(config["image_size"][1]))
        _adapt_in_channels(net, in_channels)
        head_name, head = final_linear(net)
        if head.out_features != int(config["num_classes"]):
            raise BadSpec(f"{type(net).__name__}'s last nn.Linear ({head_name}) has {head.out_features} outputs, "
                          f"expected {config['num_classes']} classes")
        key = json.dumps(config, sort_keys=True, default=str)
        if check and key not in _CHECKED:
            _check_head_is_last(net, head_name, in_channels, image_size)
            _CHECKED.add(key)
        _replace(net, head_name, nn.Identity())
        self.net = net
        self.head = head
        self.head_name = head_name
        # The original network's names: "fc.weight" -> "head.weight", "layer1.0..." -> "net.layer1.0...".
        self.native_names = ((head_name + ".", "head."), ("", "net."))

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, d)
        z = self.net(x)
        if isinstance(z, (tuple, list)):  # GoogLeNet / Inception return (logits, aux...) in training mode
            z = z[0]
        return torch.flatten(z, 1)


def wrap(name: str, build: ModuleBuilder) -> Callable[..., LetheModel]:
    """A registry builder from ``build(in_channels, image_size, num_classes, **kw) -> nn.Module``."""

    def builder(in_channels: int, image_size: tuple[int, int], num_classes: int, **kw: Any) -> LetheModel:
        net = build(in_channels, image_size, num_classes, **kw)
        if isinstance(net, LetheModel):
            return net
        if not isinstance(net, nn.Module):
            raise TypeError(f"the builder of {name!r} returned {type(net).__name__}, not an nn.Module")
        return WrappedModel(make_config(name, in_channels, image_size, num_classes, **kw), net)

    functools.update_wrapper(builder, build)  # the registry checks options against build's signature
    return builder


def register_module(name: str) -> Callable[[ModuleBuilder], ModuleBuilder]:
    """Decorator for plugins: register a builder of a plain ``nn.Module`` classifier under ``name``.

    ``build(in_channels, image_size, num_classes, **options)`` returns the network; its final
    ``nn.Linear`` becomes the head. A plugin file (``--plugin my_models.py``) or a package exposing
    the entry point group ``lethe.models`` does::

        from engine.models import register_module

        @register_module("my_cnn")
        def my_cnn(in_channels, image_size, num_classes):
            return MyCNN(num_classes)
    """

    def decorate(build: ModuleBuilder) -> ModuleBuilder:
        register_model(name)(wrap(name, build))
        return build

    return decorate


# ---------------------------------------------------------------------------------------------- families


def _torchvision_builder(builder_name: str) -> Callable[..., LetheModel]:
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models)
    if builder_name not in names:
        raise UnknownName(f"torchvision has no classification model {builder_name!r}",
                          hint="e.g. torchvision:resnet18, torchvision:mobilenet_v3_small; all: "
                               + ", ".join(names))

    def build(in_channels: int, image_size: tuple[int, int], num_classes: int, **kw: Any) -> nn.Module:
        fn = torchvision.models.get_model_builder(builder_name)
        options = dict(kw)
        if builder_name.startswith("vit_") and "image_size" not in options:
            options["image_size"] = int(image_size[0])  # ViT's position embedding follows the image size
        if builder_name in ("googlenet", "inception_v3"):
            options.setdefault("aux_logits", False)
            options.setdefault("init_weights", True)
        net: nn.Module = fn(weights=None, num_classes=num_classes, **options)
        return net

    return wrap(f"torchvision:{builder_name}", build)


def _timm_builder(model_name: str) -> Callable[..., LetheModel]:
    try:
        timm = importlib.import_module("timm")
    except ImportError:
        raise UnknownName(f"timm:{model_name} needs the timm package, which is not installed",
                          hint="pip install timm (optional: Lethe does not depend on it)") from None
    if not timm.is_model(model_name):
        raise UnknownName(f"timm has no model {model_name!r}", hint="list them with timm.list_models()")

    def build(in_channels: int, image_size: tuple[int, int], num_classes: int, **kw: Any) -> nn.Module:
        options = dict(kw)
        default = (getattr(timm.models, "get_pretrained_cfg", lambda _n: None)(model_name) or {})
        size = getattr(default, "input_size", None) or (default.get("input_size") if isinstance(default, dict) else None)
        if "img_size" not in options and size and tuple(size[1:]) != tuple(image_size):
            options["img_size"] = tuple(image_size)  # ViT-like models: position embeddings follow the data
        try:
            net: nn.Module = timm.create_model(model_name, pretrained=False, num_classes=num_classes, in_chans=in_channels,
                                               **options)
        except TypeError:  # a model without img_size: build it as it is
            options.pop("img_size", None)
            net = timm.create_model(model_name, pretrained=False, num_classes=num_classes, in_chans=in_channels, **options)
        return net

    return wrap(f"timm:{model_name}", build)


def _timm_options(state: Mapping[str, Any]) -> dict[str, Any]:
    """A timm ViT's patch size, read from its patch embedding (``patch_embed.proj.weight``: D x C x p x p)."""
    proj = next((v for k, v in state.items() if k.endswith("patch_embed.proj.weight") and getattr(v, "ndim", 0) == 4), None)
    return {"patch_size": int(proj.shape[-1])} if proj is not None else {}


register_family("torchvision", _torchvision_builder)
register_family("timm", _timm_builder, infer_options=_timm_options)
