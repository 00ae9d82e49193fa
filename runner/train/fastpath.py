"""The fast path: how a step runs on this machine, decided once from the run options.

The run options (:mod:`runner.train.options`) may leave each choice to the device ("auto" or
None); :func:`decide` turns them into a :class:`FastPath`, a pure function of the options, the
device type, the number of processes and whether the CPU has native bf16 arithmetic, so the
defaults are testable without the hardware::

    choice          CUDA                         CPU
    precision       bf16 autocast (tf32 / fp32   bf16 autocast where the CPU has native bf16
                    without bf16 support)        dot products (AVX512-BF16, AMX), else fp32
    channels_last   on                           on
    compile         on                           off (minutes of compiling for a few %)
    cuda_graphs     on with compile, 1 process   -
    sync_every      16 steps                     1 step (a check costs nothing there)
    optimizer       fused Adam, lr a device      foreach Adam, lr a float
                    tensor (no host sync)

In every precision the loss is computed in fp32 (:mod:`runner.kinds.likelihood` casts the
model's outputs), and the parameters, gradients and Adam's moments stay fp32: bf16 autocast
only runs the convolutions in bf16. ``bench/README.md`` has the measurements behind the CPU
column.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass
from typing import Any

import torch

from runner.runtime import RunError, cpu_threads

PRECISIONS = ("fp32", "tf32", "bf16")
RECOMPILE_LIMIT = 64  # compiled graphs per function: batch sizes x (train, eval) x DDP shares, with room


@dataclass(frozen=True)
class FastPath:
    """How steps run. Attributes: ``precision`` one of :data:`PRECISIONS`; ``channels_last``
    NHWC layout; ``compile`` torch.compile of each phase's loss; ``cuda_graphs`` compiled steps
    replayed as CUDA graphs; ``fused_optimizer`` fused Adam with the lr as a device tensor;
    ``threads`` CPU threads; ``sync_every`` steps between the DDP stop-flag checks (each waits
    for the device); ``device_type`` "cpu" or "cuda"."""

    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    cuda_graphs: bool = False
    fused_optimizer: bool = False
    threads: int = 1
    sync_every: int = 1
    device_type: str = "cpu"

    def autocast(self) -> contextlib.AbstractContextManager:
        """The forward's precision: bf16 autocast, or nothing (as painting and evaluation run it)."""
        from runner.runtime import autocast_for

        return autocast_for(self.precision, self.device_type)

    def layout(self, tensor: torch.Tensor) -> torch.Tensor:
        """A 4-d input in the model's memory layout."""
        if self.channels_last and tensor.dim() == 4:
            return tensor.contiguous(memory_format=torch.channels_last)
        return tensor

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model in this layout (in place: parameters keep their identity)."""
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def apply_globals(self) -> None:
        """Process-wide settings: CPU threads, cuDNN autotuning, TF32, compile limits and cache."""
        torch.set_num_threads(self.threads)
        if self.device_type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes per batch size: tune once each
            tf32 = self.precision == "tf32"
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.backends.cudnn.allow_tf32 = tf32
        if self.compile:
            import torch._dynamo.config as dynamo_config

            for name in ("recompile_limit", "cache_size_limit"):  # the name changed across torch versions
                if hasattr(dynamo_config, name):
                    setattr(dynamo_config, name, max(getattr(dynamo_config, name), RECOMPILE_LIMIT))
            from runner.data.open import cache_dir

            # compiled kernels persist next to the mock stores: a second run does not compile again
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_dir() / "inductor"))

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def decide(
    options,
    device_type: str,
    world: int,
    bf16_native: bool | None = None,
    cuda_bf16: bool | None = None,
    cuda_tf32: bool | None = None,
) -> FastPath:
    """The fast path for ``options`` (a RunOptions) on ``device_type`` with ``world`` processes.

    ``bf16_native``: the CPU has native bf16 arithmetic (default: ask oneDNN); ``cuda_bf16``
    and ``cuda_tf32``: the GPU supports them (default: ask torch). Raises :class:`RunError` for
    a combination the device cannot run.
    """
    cuda = device_type == "cuda"
    if cuda:
        cuda_bf16 = torch.cuda.is_bf16_supported() if cuda_bf16 is None else cuda_bf16
        cuda_tf32 = torch.cuda.get_device_capability()[0] >= 8 if cuda_tf32 is None else cuda_tf32
    elif bf16_native is None:
        bf16_native = cpu_has_native_bf16()
    precision = _precision(options.precision, cuda, bf16_native, cuda_bf16, cuda_tf32)
    compile_ = options.compile if options.compile is not None else cuda
    graphs = options.cuda_graphs
    if graphs and not cuda:
        raise RunError("--cuda-graphs needs a CUDA device; this run is on the CPU")
    if graphs and not compile_:
        raise RunError("--cuda-graphs replays compiled steps: it needs --compile (or leave both to their defaults)")
    if graphs is None:
        graphs = cuda and compile_ and world == 1  # DDP's collectives in backward do not replay as one graph
    return FastPath(
        precision=precision,
        channels_last=True if options.channels_last is None else options.channels_last,
        compile=compile_,
        cuda_graphs=graphs,
        fused_optimizer=cuda,
        threads=cpu_threads(options.threads),
        sync_every=options.sync_every or (16 if cuda else 1),
        device_type=device_type,
    )


def _precision(asked: str, cuda: bool, bf16_native: bool | None, cuda_bf16: bool | None, cuda_tf32: bool | None) -> str:
    if asked == "auto":
        if cuda:
            return "bf16" if cuda_bf16 else "tf32" if cuda_tf32 else "fp32"
        return "bf16" if bf16_native else "fp32"
    if asked == "tf32" and not (cuda and cuda_tf32):
        raise RunError("--precision tf32 is a mode of CUDA GPUs from Ampere on; use fp32 or bf16 here")
    if asked == "bf16" and cuda and not cuda_bf16:
        raise RunError("--precision bf16: this GPU has no bf16 arithmetic; use --precision fp32 (or tf32)")
    return asked


def cpu_has_native_bf16() -> bool:
    """True where the CPU has bf16 dot products (AVX512-BF16 or AMX), so that oneDNN's bf16
    convolutions are native rather than emulated (slower than fp32)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private, present since torch 2.3
    try:
        return any(getattr(torch.cpu, name)() for name in checks if hasattr(torch.cpu, name))
    except RuntimeError:
        return False


__all__ = ["FastPath", "PRECISIONS", "cpu_has_native_bf16", "decide"]
