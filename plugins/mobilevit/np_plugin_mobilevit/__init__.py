"""nptrain plugin: apple/ml-cvnets MobileViT (v1) backbone, presets and weight converter."""
__version__ = "0.1.0"
