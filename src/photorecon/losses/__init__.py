"""Training losses, one family a module: pixel, adversarial (with feature matching), cycle
consistency, and perceptual (EfficientNet-Lite0 features, imported only when used)."""

from photorecon.losses.adversarial import adversarial, discriminator_features, feature_matching
from photorecon.losses.cycle import cycle_loss, identity_loss
from photorecon.losses.pixel import hole_l1, pixel_loss

__all__ = [
    "adversarial",
    "cycle_loss",
    "discriminator_features",
    "feature_matching",
    "hole_l1",
    "identity_loss",
    "pixel_loss",
]
