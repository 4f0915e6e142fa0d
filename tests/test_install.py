"""The install must never pull CUDA torch, torchvision or NVIDIA packages."""

from importlib import metadata

import torch


def test_torch_is_the_cpu_build():
    assert torch.__version__.endswith("+cpu"), torch.__version__
    assert not torch.cuda.is_available() or torch.version.cuda is None


def test_no_cuda_or_torchvision_packages_installed():
    names = {(d.metadata["Name"] or "").lower() for d in metadata.distributions()}
    bad = sorted(n for n in names if n.startswith("nvidia-") or n in {"torchvision", "triton",
                                                                       "torchaudio"})
    assert bad == [], f"CUDA-only packages installed: {bad}"


def test_constraints_file_guards_cuda_packages():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "constraints.txt").read_text()
    for line in ("torch==2.13.0+cpu", "torchvision<0", "torchaudio<0", "triton<0"):
        assert line in text
