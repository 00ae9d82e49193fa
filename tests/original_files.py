"""The original's published model folder, rebuilt for tests: its module tree as its
``architecture_built.txt`` prints it, its wiring as its ``cvae.py`` runs it, and a ``model_meta``
with the structure of its dill pickle (assembled opcode by opcode: dill is not needed).

The printed tree (trained_models/CVAE/fiducial/architecture_built.txt of the original), row for
row; every Conv2d / ConvTranspose2d has bias=False, every BatchNorm2d eps=1e-05, momentum=0.1:

    q_x_in         Conv2d(1, 8, 4, 2, 1) BN(8) ReLU  Conv2d(8, 16, 8, 4, 2) BN(16) ReLU  Conv2d(16, 32, 8, 4, 2) BN(32) ReLU
    q_y_in         Conv2d(2, 8, 4, 2, 1) BN(8) ReLU  Conv2d(8, 16, 8, 4, 2) BN(16) ReLU  Conv2d(16, 32, 8, 4, 2) BN(32) ReLU
    q_out          Conv2d(64, 2, 5, 1, 2) BN(2) ReLU UnFlatten
    p_z_in         ConvTranspose2d(1, 1, 4, 2, 1) BN(1) ReLU  ConvTranspose2d(1, 1, 8, 4, 2) BN(1) ReLU  (the same again)
    p_y_z_in       Conv2d(3, 16, 5, 1, 2) BN ReLU  Conv2d(16, 32, 4, 2, 1) BN ReLU  Conv2d(32, 64, 4, 2, 1) BN ReLU
                   Conv2d(64, 128, 4, 2, 1) BN ReLU  4 x ResidualBlock(res_block: Conv2d(128, 128, 3, 1, 1) BN ReLU
                   Conv2d(128, 128, 3, 1, 1) BN; activation: ReLU)  ConvTranspose2d(128, 64, 4, 2, 1) BN ReLU
                   ConvTranspose2d(64, 32, 4, 2, 1) BN ReLU  ConvTranspose2d(32, 16, 4, 2, 1) BN ReLU
    p_mu_out       Conv2d(16, 8, 7, 1, 3) PReLU  Conv2d(8, 1, 5, 1, 2) PReLU  Conv2d(1, 1, 3, 1, 1) Softplus
    prior_network  Conv2d(2, 8, 4, 2, 1) BN ReLU  Conv2d(8, 16, 8, 4, 2) BN ReLU  Conv2d(16, 32, 8, 4, 2) BN ReLU
                   Conv2d(32, 2, 5, 1, 2) BN(2) ReLU UnFlatten
"""

from __future__ import annotations

import struct

import torch
from torch import nn


def _conv(c_in, c_out, k, s, p, transposed=False):
    cls = nn.ConvTranspose2d if transposed else nn.Conv2d
    return cls(c_in, c_out, kernel_size=k, stride=s, padding=p, bias=False)


def _down(*channels_kernels):
    """[Conv2d, BatchNorm2d, ReLU] per (c_in, c_out, k, s, p)."""
    return [
        m
        for c_in, c_out, k, s, p in channels_kernels
        for m in (_conv(c_in, c_out, k, s, p), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))
    ]


class ResidualBlock(nn.Module):
    def __init__(self, n: int = 128):
        super().__init__()
        self.res_block = nn.Sequential(
            _conv(n, n, 3, 1, 1), nn.BatchNorm2d(n), nn.ReLU(inplace=True), _conv(n, n, 3, 1, 1), nn.BatchNorm2d(n)
        )
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.activation(torch.add(self.res_block(x), x))


class OriginalCVAE(nn.Module):
    """The original's fiducial CVAE: its attribute names, Sequential slots and forward wiring."""

    dim_z = (1, 16, 16)
    min_z_var = 1e-7

    def __init__(self):
        super().__init__()
        self.q_x_in = nn.Sequential(*_down((1, 8, 4, 2, 1), (8, 16, 8, 4, 2), (16, 32, 8, 4, 2)))
        self.q_y_in = nn.Sequential(*_down((2, 8, 4, 2, 1), (8, 16, 8, 4, 2), (16, 32, 8, 4, 2)))
        self.q_out = nn.Sequential(*_down((64, 2, 5, 1, 2)))
        self.p_y_in = lambda y: y  # architecture["p_y_in"] is None: build_sequential gives the identity
        self.p_z_in = nn.Sequential(
            *[
                m
                for k, s, p in ((4, 2, 1), (8, 4, 2), (8, 4, 2))
                for m in (_conv(1, 1, k, s, p, True), nn.BatchNorm2d(1), nn.ReLU(inplace=True))
            ]
        )
        up = [
            m
            for c_in, c_out in ((128, 64), (64, 32), (32, 16))
            for m in (_conv(c_in, c_out, 4, 2, 1, True), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))
        ]
        self.p_y_z_in = nn.Sequential(
            *_down((3, 16, 5, 1, 2), (16, 32, 4, 2, 1), (32, 64, 4, 2, 1), (64, 128, 4, 2, 1)),
            *[ResidualBlock() for _ in range(4)],
            *up,
        )
        self.p_mu_out = nn.Sequential(
            _conv(16, 8, 7, 1, 3), nn.PReLU(), _conv(8, 1, 5, 1, 2), nn.PReLU(), _conv(1, 1, 3, 1, 1), nn.Softplus()
        )
        self.prior_network = nn.Sequential(
            *_down((2, 8, 4, 2, 1), (8, 16, 8, 4, 2), (16, 32, 8, 4, 2), (32, 2, 5, 1, 2))
        )

    # The original's cvae.py, for one input at a time (L = 1):
    def prior(self, y):
        h = self.prior_network(y)
        return h[:, 0], h[:, 1]  # z_mu, z_log_var: (N, 16, 16)

    def sample_z(self, z_mu, z_log_var):
        eps = torch.randn(size=(1, *z_mu.size()))
        z = z_mu + eps * (torch.exp(z_log_var / 2) + self.min_z_var)
        return z.view(-1, *self.dim_z)

    def P(self, z, y):
        h = torch.cat([self.p_z_in(z), self.p_y_in(y)], dim=1)
        return self.p_mu_out(self.p_y_z_in(h))

    def sample_P(self, y, z=None):
        """The original's paint(): z drawn from the prior unless given."""
        with torch.no_grad():
            if z is None:
                z = self.sample_z(*self.prior(y))
            return self.P(z, y)


def trained_like(seed: int = 0) -> OriginalCVAE:
    """An OriginalCVAE in eval mode whose BatchNorm statistics are those of its own activations
    (as training leaves them), with affine weights off their defaults: every layer passes on a
    signal of order one, so a tensor mapped to the wrong place changes the painting, and the
    latent changes it too."""
    torch.manual_seed(seed)
    model = OriginalCVAE()
    batchnorms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in batchnorms:
            bn.momentum = None  # cumulative: the statistics of the whole calibration pass
            bn.weight.uniform_(0.8, 1.2)
            bn.bias.uniform_(0.0, 0.3)
        for prelu in (m for m in model.modules() if isinstance(m, nn.PReLU)):
            prelu.weight.fill_(0.1)
        model.train()
        t = 0.3 * torch.rand(2, 1, 512, 512)  # like transformed dark matter and pressure
        y = torch.cat([t, torch.full_like(t, 0.5)], dim=1)
        x = 0.3 * torch.rand(2, 1, 512, 512)
        model.q_out(torch.cat([model.q_x_in(x), model.q_y_in(y)], dim=1))
        model.P(model.sample_z(*model.prior(y)), y)
        for bn in batchnorms:
            bn.momentum = 0.1
            bn.num_batches_tracked.fill_(14720)
    return model.eval()


# -- model_meta: the structure of the original's dill pickle, opcode by opcode ------------------


class Pickle:
    """A tiny pickle assembler (protocol 3 opcodes)."""

    def __init__(self):
        self.out = bytearray(b"\x80\x03")

    def glob(self, module: str, name: str):
        self.out += b"c" + f"{module}\n{name}\n".encode()
        return self

    def str(self, s: str):
        data = s.encode()
        self.out += b"X" + struct.pack("<I", len(data)) + data
        return self

    def int(self, i: int):
        self.out += b"J" + struct.pack("<i", i)
        return self

    def float(self, x: float):
        self.out += b"G" + struct.pack(">d", x)
        return self

    def bytes(self, data: bytes):
        self.out += b"C" + bytes([len(data)]) + data
        return self

    def op(self, code: bytes):  # ( t R } u N b . \x88 ...
        self.out += code
        return self

    def call(self, module: str, name: str, *args):
        """module.name(*args), each arg a callable that emits itself."""
        self.glob(module, name).op(b"(")
        for emit in args:
            emit(self)
        return self.op(b"t").op(b"R")

    def done(self) -> bytes:
        return bytes(self.out + b".")


def _numpy_scalar(value: float):
    """A numpy float64 as dill pickles it: _get_attr(_import_module('numpy.core.multiarray'), 'scalar')(dtype, bytes)."""

    def emit(p: Pickle):
        p.glob("dill._dill", "_get_attr").op(b"(")
        p.call("dill._dill", "_import_module", lambda q: q.str("numpy.core.multiarray"))
        p.str("scalar").op(b"t").op(b"R")
        p.op(b"(").call("numpy", "dtype", lambda q: q.str("f8"), lambda q: q.int(0), lambda q: q.int(1))
        p.op(b"(").int(3).str("<").op(b"NNN").int(-1).int(-1).int(0).op(b"t").op(b"b")  # dtype's BUILD state
        p.bytes(struct.pack("<d", value)).op(b"t").op(b"R")

    return emit


def _stats(stats: dict):
    """OrderedDict(field -> OrderedDict(z -> {"mean": scalar, "var": scalar}))."""

    def emit(p: Pickle):
        p.call("collections", "OrderedDict").op(b"(")
        for field, table in stats.items():
            p.str(field).call("collections", "OrderedDict").op(b"(")
            for z, entry in table.items():
                p.float(z).op(b"}").op(b"(")
                for key in ("mean", "var"):
                    p.str(key)
                    _numpy_scalar(entry[key])(p)
                p.op(b"u")
            p.op(b"u")
        p.op(b"u")

    return emit


def _closure(stats: dict):
    """A dill-pickled lambda x, field, z: func(x, field, z, s) with s = stats in its closure."""

    def emit(p: Pickle):
        p.glob("dill._dill", "_create_function").op(b"(")
        p.call("dill._dill", "_load_type", lambda q: q.str("CodeType"))
        p.op(b"(").int(3).int(0).int(3).int(5).int(19).bytes(b"\x88\x00|\x00|\x01|\x02\x88\x01\x83\x04S\x00")
        p.op(b"N\x85)").str("x").str("field").str("z").op(b"\x87").str("datasets.py").str("<lambda>").int(13)
        p.bytes(b"").str("func").str("s").op(b"\x86)").op(b"t").op(b"R")  # CodeType(...): stays inert
        p.glob("baryon_painter.utils.datasets", "__dict__").str("<lambda>").op(b"N")
        p.op(b"(")
        p.call("dill._dill", "_create_cell", lambda q: q.glob("baryon_painter.utils.data_transforms", "atleast_3d"))
        p.call("dill._dill", "_create_cell", _stats(stats))
        p.op(b"t").op(b"t").op(b"R")

    return emit


def model_meta(stats: dict, payload=None) -> bytes:
    """The original's model_meta: settings, transform and inverse_transform closures holding
    ``stats``, the architecture's dims; ``payload(p)`` adds an entry 'payload' (a tampered file)."""
    p = Pickle().op(b"}").op(b"(")
    p.str("L").int(400).str("n_grid").int(2048).str("tile_L").float(100.0).str("tile_size").int(512)
    p.str("input_field").str("dm").str("scale_to_SLICS").op(b"\x88")
    p.str("transform")
    _closure(stats)(p)
    p.str("inverse_transform")
    _closure(stats)(p)
    p.str("model_architecture").op(b"}").op(b"(").str("type").str("Type-1")
    for key, dims in (("dim_x", (1, 512, 512)), ("dim_y", (1, 512, 512)), ("dim_z", (1, 16, 16))):
        p.str(key).op(b"(").int(dims[0]).int(dims[1]).int(dims[2]).op(b"t")
    p.str("aux_label").op(b"\x88").op(b"u")
    if payload is not None:
        p.str("payload")
        payload(p)
    return p.op(b"u").done()
