"""The compute of a training step and of an evaluation, on the fast path (:mod:`runner.train.fastpath`).

A step runs the model kind's phases in order (one for a cvae, two for a cgan), each::

    with autocast:  objective, terms = phase.loss(model, x, y, beta)      # compiled per batch size
    (objective * weight).backward();  optimizer.step()                    # fused Adam on CUDA

and returns the phases' terms as one device tensor (with whatever a hook between backward and
the update gave: the gradient norm the finiteness watch reads). Nothing here reads a value back
to the host: the learning rate is a device tensor on the fused path (written in place when the
schedule changes it), and the terms stay on the device until the metrics are flushed.

``torch.compile`` is lazy: the first call at a new batch size compiles (one graph per batch
size and mode, train or eval; CUDA graphs record one replay each). When compiling fails, the
step says so once and continues without it.

An evaluation runs on a twin of the model made for inference (:class:`archspec.compile.EvalTwin`): each
BatchNorm folded into the convolution before it and activations in place, refreshed from the
live weights before each evaluation. On the paper's model that makes the forward about a
fifth cheaper on a CPU, and the twin's compiled graph is reused from one evaluation to the next.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from archspec.compile import EvalTwin
from runner.kinds.likelihood import LIKELIHOODS
from runner.train.fastpath import FastPath

_COMPILER_MODULES = ("torch._dynamo", "torch._inductor")


class Compiled:
    """``fn`` through torch.compile, falling back to ``fn`` itself with one message when
    compiling fails; ``fn`` as it is when the fast path does not compile."""

    def __init__(self, fn: Callable, fast: FastPath, say: Callable[[str], None], backend: Any = "inductor"):
        self.fn, self.say = fn, say
        self.compiled = None
        if fast.compile:
            mode = "reduce-overhead" if fast.cuda_graphs else None  # reduce-overhead: CUDA graphs
            self.compiled = torch.compile(fn, backend=backend, mode=mode, dynamic=False)  # one graph per batch size

    def __call__(self, *args: Any) -> Any:
        if self.compiled is None:
            return self.fn(*args)
        try:
            return self.compiled(*args)
        except Exception as exc:
            if not is_compile_error(exc):
                raise
            self.compiled = None
            self.say(
                f"runner: warning: torch.compile failed ({root_cause(exc)}); continuing without it "
                "(--no-compile skips the attempt)"
            )
            return self.fn(*args)


def root_cause(exc: BaseException) -> str:
    """'RuntimeError: no C++ compiler' for the innermost cause of a compiler error, one line."""
    while True:  # dynamo keeps the backend's error as inner_exception (and __context__), not __cause__
        inner = getattr(exc, "inner_exception", None) or exc.__cause__
        if not isinstance(inner, BaseException) or inner is exc:
            break
        exc = inner
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}" if text else type(exc).__name__


def is_compile_error(exc: BaseException) -> bool:
    """True for an error raised by torch's compiler stack (dynamo, inductor, a backend)."""
    return any(cls.__module__.startswith(_COMPILER_MODULES) for cls in type(exc).__mro__)


class Step:
    """The phases of ``kind`` on the fast path ``fast``; ``say`` prints a warning once."""

    def __init__(
        self,
        kind,
        fast: FastPath,
        device: torch.device,
        say: Callable[[str], None],
        likelihood: str = "shift_log",
        options: dict | None = None,
    ):
        self.kind, self.fast, self.device = kind, fast, device
        bound = {"loglik": LIKELIHOODS[likelihood], **(options or {})}  # the kind's options(training)
        self.loss = {
            phase.optimizer: Compiled(functools.partial(phase.loss, **bound), fast, say) for phase in kind.phases
        }
        self._lr: dict | None = None
        self._twin: EvalTwin | None = None

    # --- optimizers -------------------------------------------------------------------------------

    def optimizers(self, model: torch.nn.Module, training) -> dict[str, torch.optim.Optimizer]:
        """One optimizer per phase: Adam or AdamW as the spec says (``training.phases.<name>``
        where it gives one, else ``training``), fused with a device-tensor lr on CUDA."""
        out = {}
        for phase in self.kind.phases:
            spec, lr = training.optimizer_of(phase.optimizer), training.lr_of(phase.optimizer)
            cls = torch.optim.AdamW if spec.name == "AdamW" else torch.optim.Adam
            out[phase.optimizer] = cls(
                phase.params(model),
                betas=tuple(spec.betas),
                weight_decay=spec.weight_decay,
                **self._flags(lr.start),
            )
        return out

    def _flags(self, lr: float) -> dict[str, Any]:
        if self.fast.fused_optimizer:  # a tensor lr is only supported by the fused and capturable kernels
            return {"lr": torch.tensor(lr, dtype=torch.float32, device=self.device), "fused": True}
        return {"lr": lr}

    def set_lr(self, optimizers: dict, lr: float | dict[str, float]) -> None:
        """The schedule's learning rate (one for every optimizer, or one per phase by name),
        written only when it changes (in place on the device)."""
        lr = lr if isinstance(lr, dict) else {name: lr for name in optimizers}
        if lr == self._lr:
            return
        for name, optimizer in optimizers.items():
            for group in optimizer.param_groups:
                if isinstance(group["lr"], torch.Tensor):
                    group["lr"].fill_(lr[name])  # an enqueued kernel, not a host round trip
                else:
                    group["lr"] = lr[name]
        self._lr = lr

    def load_optimizer(self, optimizer: torch.optim.Optimizer, state: dict) -> None:
        """Load a saved optimizer state under this run's flags (fused or not, lr tensor or float):
        a checkpoint from another device or fast path resumes as this one runs."""
        current = optimizer.param_groups
        groups = [
            {**saved, **{k: group[k] for k in ("lr", "fused", "foreach", "capturable") if k in group}}
            for saved, group in zip(state["param_groups"], current)
        ]
        optimizer.load_state_dict({**state, "param_groups": groups})
        for group, mine in zip(optimizer.param_groups, current):
            group["lr"] = mine["lr"]  # keep this run's lr object (a device tensor on the fused path)
        # Moments keep the memory layout they were saved in; a fused kernel walks each tensor as
        # flat memory, so after a change of layout (channels-last on one side only) it would pair
        # every weight with another's moments. Give each moment its parameter's layout.
        for param, moments in optimizer.state.items():
            for key, value in moments.items():
                if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                    moments[key] = torch.empty_like(param, dtype=value.dtype).copy_(value)
        self._lr = None

    # --- compute ----------------------------------------------------------------------------------

    def train(
        self,
        model,
        optimizers: dict,
        x: torch.Tensor,
        y: torch.Tensor,
        beta: float,
        weight: float,
        before_update: Callable[[Any], torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """One step of every phase: (the phases' terms, concatenated, on the device; what
        ``before_update`` gave for each phase, or []).

        ``weight`` scales each objective before backward (the process's share of the global batch).
        ``before_update(phase)``, when given, runs between each phase's backward and its optimizer
        step, while the gradients are there (a gradient norm, say)."""
        if self.fast.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()  # a new iteration: earlier replays' outputs may be reused
        x, y = self.fast.layout(x), self.fast.layout(y)
        terms, extras = [], []
        for phase in self.kind.phases:
            optimizer = optimizers[phase.optimizer]
            with self.fast.autocast():
                objective, phase_terms = self.loss[phase.optimizer](model, x, y, beta)
            optimizer.zero_grad(set_to_none=True)
            (objective * weight).backward()
            terms.append(phase_terms.clone())  # owned here: a CUDA graph replay reuses its outputs' memory
            if before_update is not None:
                extras.append(before_update(phase))
            optimizer.step()
        return torch.cat(terms), extras

    def evaluate(self, model, x: torch.Tensor, y: torch.Tensor, beta: float) -> torch.Tensor:
        """The phases' terms on a batch as the model is in eval mode (BatchNorm's running
        statistics), in inference mode, at the fast path's precision, layout and compiled graphs,
        computed by the model's inference twin."""
        if self._twin is None or self._twin.source is not model:
            self._twin = EvalTwin(model)
        twin = self._twin.refreshed()
        with torch.inference_mode(), self.fast.autocast():
            x, y = self.fast.layout(x), self.fast.layout(y)
            return torch.cat([self.loss[phase.optimizer](twin, x, y, beta)[1].clone() for phase in self.kind.phases])


def plain_optimizer_state(state: dict) -> dict:
    """An optimizer state dict with tensor learning rates as floats: the same checkpoint
    whichever device or fast path wrote it (one read-back, at checkpoint time only)."""
    groups = [
        {**g, "lr": float(g["lr"]) if isinstance(g["lr"], torch.Tensor) else g["lr"]} for g in state["param_groups"]
    ]
    return {**state, "param_groups": groups}
