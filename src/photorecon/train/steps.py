"""One optimisation step per trainer kind (`ModelInfo.trainer`, `build_step`): supervised
fills, detectors, restorers, GANs (context encoder, pix2pix), CycleGAN and diffusion (LoRA).

Each step owns its networks, optimisers and losses; the engine owns data, schedule, EMA,
evaluation, checkpoints and distribution, and talks to a step only through this small surface.
A step returns its losses as detached tensors and never reads them on the host: reading one
waits for the device, so the engine does it only every few steps (train/loop.py, SYNC_EVERY).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from photorecon.errors import PhotoreconError
from photorecon.losses import (
    adversarial,
    cycle_loss,
    feature_matching,
    hole_l1,
    identity_loss,
    pixel_loss,
)
from photorecon.train.config import GANConfig, TrainConfig


def _adam(params, lr: float, beta1: float, beta2: float, weight_decay: float = 0.0):
    """AdamW remembering its base learning rate, which the schedule scales."""
    opt = torch.optim.AdamW(params, lr=lr, betas=(beta1, beta2), weight_decay=weight_decay)
    for group in opt.param_groups:
        group["initial_lr"] = lr
    return opt


class Step:
    """Base: `generator` is the network being trained and shipped (a fill, a detector, a
    restorer, or the diffusion pipeline whose LoRA is trained); `modules`/`optimizers` are
    checkpointed."""

    generator: nn.Module
    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]

    def __init__(self, cfg: TrainConfig, scaler: torch.amp.GradScaler | None) -> None:
        self.cfg = cfg
        # loss scaling for fp16 autocast (disabled otherwise), this step's own; checkpointed
        self.scaler = scaler if scaler is not None else torch.amp.GradScaler("cpu", enabled=False)

    def _update(self, loss: torch.Tensor, opt: torch.optim.Optimizer, params, clip: float) -> None:
        """Backward, (unscale,) clip and step one optimiser."""
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(opt)
        if clip > 0:
            nn.utils.clip_grad_norm_(params, clip)
        self.scaler.step(opt)

    def __call__(
        self, images: torch.Tensor, masks: torch.Tensor, autocast: Callable
    ) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def set_lr(self, factor: float) -> None:
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * factor

    def _update_generator(self, loss: torch.Tensor, end_step: bool = True) -> None:
        """Check, backward and step the generator's loss; `end_step` ends the loss scaling."""
        self._update(
            loss,
            self.optimizers["generator"],
            self.generator.parameters(),
            self.cfg.optim.grad_clip,
        )
        if end_step:
            self.scaler.update()

    @staticmethod
    def _finite(loss: torch.Tensor, name: str) -> None:
        if not math.isfinite(loss.detach()):
            raise PhotoreconError(f"{name} loss became {loss.detach()}")


class OneNetStep(Step):
    """One network and its optimiser (`train_model` is what runs forward: the DDP wrapper
    when distributed, compiled when asked)."""

    def __init__(
        self, generator: nn.Module, train_model: nn.Module, cfg: TrainConfig, scaler=None
    ) -> None:
        self.generator = generator
        self.train_model = train_model
        super().__init__(cfg, scaler)
        o = cfg.optim
        opt = _adam(generator.parameters(), o.lr, o.beta1, o.beta2, o.weight_decay)
        self.modules = {"generator": generator}
        self.optimizers = {"generator": opt}


class SupervisedStep(OneNetStep):
    """Pixel losses on the generator's output (ffc, bilstm)."""

    def __init__(
        self, generator: nn.Module, train_model: nn.Module, cfg: TrainConfig, scaler=None
    ) -> None:
        super().__init__(generator, train_model, cfg, scaler)
        self.perceptual = None
        if cfg.loss.perceptual > 0:
            from photorecon.losses.perceptual import PerceptualLoss

            device = next(generator.parameters()).device
            self.perceptual = PerceptualLoss().to(device)

    def __call__(self, images, masks, autocast) -> dict[str, torch.Tensor]:
        masked = images * (1 - masks)
        with autocast():
            pred = self.train_model(masked, masks)
        loss = pixel_loss(pred.float(), images, masks, self.cfg.loss)
        out = {}
        if self.perceptual is not None:
            filled = pred.float() * masks + images * (1 - masks)
            with autocast():
                perceptual = self.perceptual(filled, images).float()
            loss = loss + self.cfg.loss.perceptual * perceptual
            out["perceptual"] = perceptual.detach()
        self._update_generator(loss)
        return {"loss": loss.detach(), **out}


def detection_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus a soft Dice over the whole batch: the cross-entropy learns
    every pixel, the Dice keeps the rare damage pixels from drowning in the clean ones (over
    the batch, so clean samples, with no damage at all, count too)."""
    bce = nn.functional.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits)
    dice = 1 - (2 * (prob * target).sum() + 1) / (prob.sum() + target.sum() + 1)
    return bce + dice


class DetectorStep(OneNetStep):
    """A damage detector: damaged photos in, the true damage mask as the target."""

    def __call__(self, images, masks, autocast) -> dict[str, torch.Tensor]:
        with autocast():
            logits = self.train_model(images)
        loss = detection_loss(logits.float(), masks)
        self._update_generator(loss)
        return {"loss": loss.detach()}


class RestorerStep(OneNetStep):
    """A restorer: aged photos in, what they were before ageing as the target (uint8)."""

    # An untouched photo's error weighs this much more: its errors are small next to an aged
    # photo's, yet a restorer that harms photos that needed nothing is worse than none.
    UNTOUCHED_WEIGHT = 4.0

    def __call__(self, images, targets, autocast) -> dict[str, torch.Tensor]:
        with autocast():
            restored = self.train_model(images)
        target = targets.float() / 255
        per_sample = (restored.float() - target).abs().mean((1, 2, 3))
        untouched = (images == target).flatten(1).all(1)
        weights = 1.0 + (self.UNTOUCHED_WEIGHT - 1.0) * untouched.float()
        loss = (per_sample * weights).sum() / weights.sum()
        self._update_generator(loss)
        return {"loss": loss.detach()}


class GANStep(Step):
    """Generator + discriminator (context encoder: D(image); pix2pix/unet_gan: D(input, image))."""

    def __init__(
        self,
        generator: nn.Module,
        train_model: nn.Module,
        discriminator: nn.Module,
        train_disc: nn.Module,
        conditional: bool,
        cfg: TrainConfig,
        scaler=None,
    ) -> None:
        self.generator, self.train_model = generator, train_model
        self.discriminator, self.train_disc = discriminator, train_disc
        self.conditional = conditional
        super().__init__(cfg, scaler)
        o, g = cfg.optim, cfg.gan
        opt_g = _adam(generator.parameters(), o.lr, o.beta1, o.beta2, o.weight_decay)
        opt_d = _adam(discriminator.parameters(), g.d_lr, g.d_beta1, o.beta2)
        self.modules = {"generator": generator, "discriminator": discriminator}
        self.optimizers = {"generator": opt_g, "discriminator": opt_d}

    def _d_input(self, masked: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return torch.cat([masked, image], dim=1) if self.conditional else image

    def _feature_matching(self, masked, images, pred) -> torch.Tensor:
        """L1 between the discriminator's hidden activations for the real and the filled image."""
        real, fake = self._d_input(masked, images), self._d_input(masked, pred)
        return feature_matching(self.discriminator, real, fake)

    def _reconstruction(self, pred, images, masks, g: GANConfig) -> torch.Tensor:
        if g.rec_loss == "pixel":
            return pixel_loss(pred, images, masks, self.cfg.loss)
        if g.rec_loss != "l1":
            raise PhotoreconError(f"unknown gan.rec_loss {g.rec_loss!r} (l1 or pixel)")
        if g.rec_region == "hole":
            return hole_l1(pred, images, masks)
        return (pred - images).abs().mean()

    def __call__(self, images, masks, autocast) -> dict[str, torch.Tensor]:
        g = self.cfg.gan
        masked = images * (1 - masks)
        with autocast():
            pred = self.train_model(masked, masks)
        pred = pred.float()
        # discriminator step on real and (detached) fake
        opt_d = self.optimizers["discriminator"]
        with autocast():
            real_logits = self.train_disc(self._d_input(masked, images)).float()
            fake_logits = self.train_disc(self._d_input(masked, pred.detach())).float()
        d_loss = 0.5 * (
            adversarial(real_logits, True, g.adv_loss) + adversarial(fake_logits, False, g.adv_loss)
        )
        self._update(d_loss, opt_d, self.discriminator.parameters(), self.cfg.optim.grad_clip)
        # generator step: fool the discriminator and stay close to the image
        with autocast():
            fooled = self.train_disc(self._d_input(masked, pred)).float()
        adv = adversarial(fooled, True, g.adv_loss)
        rec = self._reconstruction(pred, images, masks, g)
        g_loss = g.adv_weight * adv + g.rec_weight * rec
        if g.feature_matching > 0:
            g_loss = g_loss + g.feature_matching * self._feature_matching(masked, images, pred)
        self._update_generator(g_loss)
        return {
            "loss": g_loss.detach(),
            "d_loss": d_loss.detach(),
            "adv": adv.detach(),
            "rec": rec.detach(),
        }


class CycleGANStep(Step):
    """Unpaired: domain A = photos with white holes, domain B = clean photos (other samples)."""

    def __init__(
        self,
        generator: nn.Module,
        train_model: nn.Module,
        d_a: nn.Module,
        d_b: nn.Module,
        train_d_a: nn.Module,
        train_d_b: nn.Module,
        cfg: TrainConfig,
        scaler=None,
    ) -> None:
        self.generator, self.train_model = generator, train_model
        self.d_a, self.d_b, self.train_d_a, self.train_d_b = d_a, d_b, train_d_a, train_d_b
        super().__init__(cfg, scaler)
        o, g = cfg.optim, cfg.gan
        opt_g = _adam(generator.parameters(), o.lr, o.beta1, o.beta2, o.weight_decay)
        opt_d = _adam([*d_a.parameters(), *d_b.parameters()], g.d_lr, g.d_beta1, o.beta2)
        self.modules = {"generator": generator, "d_a": d_a, "d_b": d_b}
        self.optimizers = {"generator": opt_g, "discriminators": opt_d}

    def __call__(self, images, masks, autocast) -> dict[str, torch.Tensor]:
        g = self.cfg.gan
        real_a = images * (1 - masks) + masks  # holes painted white, as users bring them
        # unpaired: domain B is the batch's clean photos in another order
        real_b = torch.roll(images, shifts=1, dims=0) if images.shape[0] > 1 else images.flip(-1)
        with autocast():
            out = self.train_model(real_a, real_b)  # CyclePasses, DDP-wrapped when distributed
            fake_a, fake_b = out["fake_a"], out["fake_b"]
            rec_a, rec_b, idt_a, idt_b = out["rec_a"], out["rec_b"], out["idt_a"], out["idt_b"]
            adv = adversarial(self.train_d_b(fake_b).float(), True, "lsgan") + adversarial(
                self.train_d_a(fake_a).float(), True, "lsgan"
            )
        cycle = cycle_loss(rec_a, real_a, rec_b, real_b)
        idt = identity_loss(idt_a, real_a, idt_b, real_b)
        g_loss = g.adv_weight * adv + g.cycle_weight * cycle + g.identity_weight * idt
        self._update_generator(g_loss, end_step=False)  # the discriminators step next
        with autocast():
            d_loss = 0.5 * (
                adversarial(self.train_d_b(real_b).float(), True, "lsgan")
                + adversarial(self.train_d_b(fake_b.detach()).float(), False, "lsgan")
                + adversarial(self.train_d_a(real_a).float(), True, "lsgan")
                + adversarial(self.train_d_a(fake_a.detach()).float(), False, "lsgan")
            )
        opt_d = self.optimizers["discriminators"]
        self._update(
            d_loss,
            opt_d,
            [p for group in opt_d.param_groups for p in group["params"]],
            self.cfg.optim.grad_clip,
        )
        self.scaler.update()
        return {
            "loss": g_loss.detach(),
            "d_loss": d_loss.detach(),
            "cycle": cycle.detach(),
        }


class DiffusionStep(Step):
    """LoRA fine-tuning of a Stable Diffusion inpainting UNet: the denoising loss on latents.

    Each photo and its masked copy are encoded by the frozen VAE; the UNet sees the noised
    latents, the mask at latent size and the masked image's latents (its 9 channels) with the
    prompt's frozen text embedding, and learns to predict the noise (or v, as the scheduler
    says). Only the LoRA weights train; the random timesteps and noise come from torch's
    generator, which the engine checkpoints, so a resumed run continues exactly.
    """

    def __init__(
        self, generator: nn.Module, train_unet: nn.Module, cfg: TrainConfig, scaler=None
    ) -> None:
        from diffusers import DDPMScheduler

        if generator.lora is None:
            raise PhotoreconError(
                "a diffusion run trains LoRA weights: set model.kwargs.lora_rank (e.g. 4)"
            )
        self.generator = generator
        self.train_model = train_unet  # the UNet, DDP-wrapped when distributed
        super().__init__(cfg, scaler)
        pipe = generator.pipe
        self.pipe = pipe
        self.noise = DDPMScheduler.from_config(pipe.scheduler.config)
        o = cfg.optim
        opt = _adam(generator.parameters(), o.lr, o.beta1, o.beta2, o.weight_decay)
        self.modules = {"generator": generator}
        self.optimizers = {"generator": opt}
        with torch.no_grad():  # one prompt for every sample: its embedding, once
            tokens = pipe.tokenizer(
                [generator.options.prompt],
                padding="max_length",
                max_length=pipe.tokenizer.model_max_length,
                truncation=True,
                return_tensors="pt",
            ).input_ids.to(pipe.device)
            self.text = pipe.text_encoder(tokens)[0]

    def __call__(self, images, masks, autocast) -> dict[str, torch.Tensor]:
        vae, scale = self.pipe.vae, self.pipe.vae.config.scaling_factor
        x = images * 2 - 1
        with torch.no_grad():
            latents = vae.encode(x).latent_dist.sample() * scale
            masked = vae.encode(x * (masks < 0.5)).latent_dist.sample() * scale
        small = torch.nn.functional.interpolate(masks, size=latents.shape[-2:])
        noise = torch.randn_like(latents)
        t = torch.randint(
            0, self.noise.config.num_train_timesteps, (latents.shape[0],), device=latents.device
        )
        noisy = self.noise.add_noise(latents, noise, t)
        target = noise
        if self.noise.config.prediction_type == "v_prediction":
            target = self.noise.get_velocity(latents, noise, t)
        text = self.text.expand(latents.shape[0], -1, -1)
        with autocast():
            pred = self.train_model(
                torch.cat([noisy, small, masked], dim=1), t, encoder_hidden_states=text
            ).sample
        loss = torch.nn.functional.mse_loss(pred.float(), target.float())
        self._update_generator(loss)
        return {"loss": loss.detach()}
