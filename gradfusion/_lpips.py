"""LPIPS machinery behind :func:`gradfusion.metrics.lpips`: where the backbone weights live,
whether LPIPS can run here offline (without importing torch), and the model, built once per
process."""

import functools
import importlib.util
import os
import sys
import warnings

#: torchvision backbone checkpoints that ``lpips.LPIPS(net=...)`` loads
BACKBONES = {
    "alex": ("alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"),
    "vgg": ("vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth"),
    "squeeze": ("squeezenet1_1-b8a52dc0.pth",
                "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth"),
}


class LPIPSUnavailableError(RuntimeError):
    """LPIPS cannot run here: a package or the backbone weights are missing."""

    __module__ = "gradfusion.metrics"


def hub_dir():
    """``torch.hub.get_dir()``, without importing torch when it is not imported yet.

    torch documents the order: a folder set by ``torch.hub.set_dir`` (only possible once
    torch is imported), else ``$TORCH_HOME/hub``, ``$XDG_CACHE_HOME/torch/hub``,
    ``~/.cache/torch/hub``.
    """
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "hub"):
        return torch.hub.get_dir()
    home = os.getenv("TORCH_HOME",
                     os.path.join(os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache")), "torch"))
    return os.path.join(os.path.expanduser(home), "hub")


def checkpoint(net):
    """``(path, url)`` of the backbone weights ``lpips.LPIPS(net=net)`` loads (torchvision's
    file in ``torch.hub.get_dir()/checkpoints``, downloaded there when missing)."""
    name, url = BACKBONES[net]
    return os.path.join(hub_dir(), "checkpoints", name), url


def importable(name):
    """Whether ``import name`` can find the package, without importing it."""
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def unavailable(net):
    """Why :func:`gradfusion.metrics.lpips` with ``net`` cannot run here offline (a str), or None if it may.

    Checked without importing torch or lpips and without network access: both
    packages installed, the backbone weights file in
    ``torch.hub.get_dir()/checkpoints``. ``evaluate(lpips="auto")`` skips LPIPS
    with this note instead of letting ``lpips`` try to download the weights.
    """
    missing = [name for name in ("torch", "lpips") if not importable(name)]
    if missing:
        return f"{' and '.join(missing)} not installed: pip install 'gradfusion[lpips]'"
    path, _ = checkpoint(net)
    if not os.path.isfile(path):
        return (f"no backbone weights {os.path.basename(path)} in {os.path.dirname(path)}: "
                "see gradfusion.metrics.lpips")
    return None


@functools.lru_cache(maxsize=None)
def model(net):
    """The ``lpips.LPIPS(net=net)`` module, built once per process."""
    try:
        import torch  # noqa: F401
        import lpips as lpips_package
    except Exception as exc:
        raise LPIPSUnavailableError(
            "LPIPS needs the optional packages torch and lpips (pip install "
            f"'gradfusion[lpips]'); importing them failed: {exc}") from exc
    path, url = checkpoint(net)
    present = os.path.exists(path)
    try:
        with warnings.catch_warnings():
            # torchvision's warnings about lpips' use of its deprecated `pretrained` argument:
            # nothing the caller can act on
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torchvision(\.|$)")
            model = lpips_package.LPIPS(net=net, verbose=False)
    except Exception as exc:
        where = "is there but could not be loaded" if present else "is missing"
        raise LPIPSUnavailableError(
            f"LPIPS net={net!r} needs the ImageNet backbone weights "
            f"{os.path.basename(path)}, which {where}; without network access, place "
            f"the file (from {url}) in the folder {os.path.dirname(path)} "
            f"(torch.hub.get_dir()/checkpoints; set TORCH_HOME to move it). "
            f"Cause: {type(exc).__name__}: {exc}") from exc
    return model.eval()
