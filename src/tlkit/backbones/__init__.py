"""Backbones: a registry of pretrained networks, their preprocessing, building and blocks.

Every backbone built here takes raw RGB pixels in ``[0, 255]`` and applies its own
preprocessing inside the model, so a finished classifier can be saved and served
without a separate preprocessing step. Modules: :mod:`~tlkit.backbones.registry`
(:class:`BackboneSpec`, :func:`register_backbone`), :mod:`~tlkit.backbones.preprocessing`
and :mod:`~tlkit.backbones.build` (:func:`build_backbone`, :func:`backbone_blocks`);
:mod:`~tlkit.backbones.efficientnet_lite` builds EfficientNet-Lite with ImageNet weights
read by :mod:`~tlkit.backbones.torch_state` (PyTorch state dicts, without PyTorch).
"""

from tlkit.backbones.build import INPUT_NAME, POOLINGS, backbone_blocks, build_backbone
from tlkit.backbones.preprocessing import PREPROCESSING_MODES, Preprocessing
from tlkit.backbones.registry import (
    BackboneSpec,
    get_backbone_spec,
    list_backbones,
    register_backbone,
    unregister_backbone,
)

__all__ = [
    "INPUT_NAME",
    "POOLINGS",
    "PREPROCESSING_MODES",
    "BackboneSpec",
    "Preprocessing",
    "backbone_blocks",
    "build_backbone",
    "get_backbone_spec",
    "list_backbones",
    "register_backbone",
    "unregister_backbone",
]
