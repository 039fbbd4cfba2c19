"""A DxMI sampler as a diffusers pipeline (written by ``dxmi export``; needs torch and diffusers only).

    pipe = DiffusionPipeline.from_pretrained(FOLDER, trust_remote_code=True)
    images = pipe(batch_size=16, generator=torch.Generator().manual_seed(100)).images

``unet`` predicts the noise eps (the exported ``DxMIUNet`` or a diffusers ``UNet2DModel``);
``scheduler`` (``DxMIScheduler``) holds the sampler's fixed steps. ``output_type="pt"`` returns the
samples as the model made them, (B, C, H, W) in the data range [-1, 1] (not clamped: the values
``dxmi sample`` writes); ``"np"`` (B, H, W, C) and ``"pil"`` map them to [0, 1] and images.
"""

from __future__ import annotations

import torch
from diffusers.pipelines.pipeline_utils import DiffusionPipeline, ImagePipelineOutput


class DxMIPipeline(DiffusionPipeline):  # type: ignore[misc]
    model_cpu_offload_seq = "unet"  # type: ignore[assignment]

    def __init__(self, unet: torch.nn.Module, scheduler: object):
        super().__init__()
        # own copies of the weights, not views into the (memory-mapped) weights file: CPU kernels round
        # data at unaligned offsets differently, and the folder may be removed once loaded
        with torch.no_grad():
            for t in [*unet.parameters(), *unet.buffers()]:
                t.data = t.data.clone()
        self.register_modules(unet=unet, scheduler=scheduler)

    @property
    def num_classes(self) -> int:
        """K of a class-conditional network (labels 0..K-1), 0 for an unconditional one."""
        cfg = self.unet.config
        return int(getattr(cfg, "num_classes", None) or getattr(cfg, "num_class_embeds", None) or 0)

    @torch.no_grad()
    def __call__(self, batch_size: int = 1, generator: torch.Generator | None = None,
                 class_labels: torch.Tensor | list[int] | int | None = None, output_type: str = "pil",
                 return_dict: bool = True) -> ImagePipelineOutput | tuple:
        """Draw ``batch_size`` images. A class-conditional model draws class ``class_labels`` (one label
        for all, or one per image), by default every class equally often (labels 0, 1, ..., K-1, 0, ...).
        The noise comes from ``generator`` on the generator's device (default: the pipeline's)."""
        device = self._execution_device
        cfg = self.unet.config
        size = cfg.sample_size
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        channels = cfg.in_channels
        classes = self.num_classes
        labels = None
        if classes:
            if class_labels is None:
                labels = torch.arange(batch_size, device=device) % classes
            else:
                labels = torch.as_tensor(class_labels, dtype=torch.long, device=device).expand(batch_size)
        elif class_labels is not None:
            raise ValueError("this model is unconditional: it takes no class_labels")
        noise_device = generator.device if generator is not None else device
        x = torch.randn((batch_size, channels, h, w), generator=generator, device=noise_device).to(device)
        x = self.scheduler.init_noise_sigma * x
        self.scheduler.set_timesteps(device=device)
        for t in self.progress_bar(self.scheduler.timesteps):
            tt = t.expand(batch_size)
            eps = self.unet(x, tt, class_labels=labels, return_dict=False)[0]
            eps = eps[:, :channels]  # a learned-variance head: eps is the first C channels
            x = self.scheduler.step(eps, t, x, generator=generator).prev_sample
        if output_type == "pt":
            images = x
        else:
            images = (x / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).float().cpu().numpy()
            if output_type == "pil":
                images = self.numpy_to_pil(images)
            elif output_type != "np":
                raise ValueError(f"output_type must be 'pil', 'np' or 'pt', got {output_type!r}")
        self.maybe_free_model_hooks()
        if not return_dict:
            return (images,)
        return ImagePipelineOutput(images=images)
