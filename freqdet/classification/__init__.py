"""ImageNet classifiers on block-DCT inputs: models, transforms, statistics, training engine."""
from .models import ARCHS, MobileNetV2DCT, ResNetDCT, build_classifier, mobilenet_v2_dct, resnet50_dct
from .transforms import ToDCT, build_transform

__all__ = ["ARCHS", "MobileNetV2DCT", "ResNetDCT", "ToDCT", "build_classifier", "build_transform",
           "mobilenet_v2_dct", "resnet50_dct"]
