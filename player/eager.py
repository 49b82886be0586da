"""nerv-bench's baseline ``<family>-eager``: the package's own model run as the papers' codes run it.

The trainer's module of the package's family is rebuilt from the family config in the manifest
(``nervkit.trainer.registry.model_from_config``) and given the package's dequantised decoder weights
(stored under the module's parameter names). Each batch is one fp32 ``decode`` under
``torch.inference_mode`` followed by a device synchronisation, as the official HNeRV code times its
decoder. So a SNeRV package runs pytorch_wavelets' IDWT, and the official HNeRV package the trainer's
HNeRV module: the real model, not a re-interpretation of the exported graph. For a ``gop``-plan package
(temporal down-sampling) the model is the trainer's enhancer (``trainer.tds.enhancer``) from the
manifest's enhancer config; the plan runs it, one call per batch of Algorithm 1's steps.

The player may not import the trainer at module level (import direction: player -> runtime, and
importing ``nervkit.player`` never imports torch): this module imports torch and ``nervkit.trainer``
only when a baseline is built.
"""

from __future__ import annotations

import numpy as np

from nervkit.runtime.errors import PackageError, UserError

SUFFIX = "-eager"


def eager_name(family: str) -> str:
    """The baseline's name in nerv-bench's results: ``<family>-eager`` (``hnerv-eager``, ``snerv-eager``)."""
    return family + SUFFIX


class EagerDecoder:
    """``run(feeds) -> float32 [n, 3, H, W]`` on the host, like a runtime backend, with the trainer's module.

    ``device`` is ``cpu`` or ``cuda``; ``sync()`` waits for the device (``torch.cuda.synchronize``),
    which ``run`` does before it returns.
    """

    def __init__(self, pkg, device: str = "cpu"):
        if pkg.config is None:
            raise UserError(f"{pkg.path}: the package holds no model config (written by an older "
                            "nerv-export): re-export it for the eager baseline, or pass --baseline none")
        try:
            import torch

            from nervkit.trainer.registry import model_from_config
        except ImportError:
            raise UserError("the eager baseline needs torch (pip install 'nervkit[train]'), "
                            "or pass --baseline none") from None
        self._torch = torch
        self.name = eager_name(pkg.family)
        self.device = torch.device(device)
        self.embed_names = pkg.embed_names
        try:
            if pkg.plan.kind == "gop":
                model = _enhancer(pkg.config, pkg.weights())
                self._forward = model
            else:
                model = model_from_config(pkg.family, pkg.config)
                model.load_decoder_state(pkg.weights())
                self._forward = model.decode
        except (TypeError, ValueError, KeyError, RuntimeError) as err:
            raise PackageError(f"{pkg.path}: the family config and weights do not rebuild the "
                               f"{pkg.family} model ({str(err).splitlines()[0][:200]})") from None
        self.model = model.to(self.device).eval()

    def sync(self) -> None:
        if self.device.type == "cuda":
            self._torch.cuda.synchronize(self.device)

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            out = self._forward(*(torch.from_numpy(feeds[n]).to(self.device) for n in self.embed_names))
            self.sync()
        return out.cpu().numpy()

    def close(self) -> None:
        self.model = self._forward = None


def _enhancer(config, weights: dict[str, np.ndarray]):
    """A ``gop`` package's enhancer as the trainer's module (``trainer.tds.enhancer.Enhancer``), every
    parameter from the package (stored under its name)."""
    import torch

    from nervkit.trainer.tds.enhancer import Enhancer, EnhancerConfig

    with torch.device("meta"):  # sized by the package's weights, not by the manifest's config
        model = Enhancer(EnhancerConfig(**config["enhancer"]["config"]))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()}, strict=True, assign=True)
    return model
