"""`nrf-deploy convert`: a ReLU CNN written by torch.onnx becomes an IF NIR graph whose spike rates
approach the ANN, which deploys and verifies bit for bit on Loihi, SpiNNaker and ONNX, and every
unsupported network gets one clear message (exit 2, nothing written)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from nrf_deploy.exporters import onnx_reader
from nrf_deploy.exporters.ann_to_snn import encode

import nrf_deploy as nd
from nrf_deploy.cli import main
from nrf_deploy.errors import GraphError, NrfError


def _tiny_cnn() -> torch.nn.Sequential:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, 2, 1),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.AvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(64, 10),
        torch.nn.ReLU(),
        torch.nn.Linear(10, 3),
    ).eval()
    with torch.no_grad():  # a BatchNorm that is not the identity, so folding is exercised
        net[1].running_mean.uniform_(-0.2, 0.2)
        net[1].running_var.uniform_(0.5, 2.0)
        net[1].weight.uniform_(0.5, 1.5)
    return net


def _export(net: torch.nn.Module, path, shape=(2, 16, 16)) -> None:
    """torch.onnx (TorchScript exporter); no constant folding keeps BatchNormalization a node."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (torch.zeros(1, *shape),),
            str(path),
            dynamo=False,
            input_names=["x"],
            dynamic_axes={"x": {0: "batch"}},
            do_constant_folding=False,
        )


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    d = tmp_path_factory.mktemp("convert")
    net = _tiny_cnn()
    _export(net, d / "cnn.onnx")
    x = (torch.rand(96, 2, 16, 16, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    np.save(d / "cal.npy", x.numpy())
    code = main(
        [
            "convert",
            str(d / "cnn.onnx"),
            "--calibration",
            str(d / "cal.npy"),
            "-o",
            str(d / "cnn.nir"),
            "--write-input",
            str(d / "x_t.npy"),
            "--timesteps",
            "12",
            "--samples",
            "3",
        ]
    )
    assert code == 0
    return d, net, x


def test_spike_rates_approach_the_ann(converted):
    d, net, x = converted
    with torch.no_grad():
        ann = net(x).numpy()
    errors = {}
    for steps in (4, 64):
        v = nd.run(d / "cnn.nir", encode(x.numpy(), steps, "deterministic", 1.0)).outputs["readout"]
        errors[steps] = float(np.abs(v[-1] / steps - ann).mean())
    scale = float(np.abs(ann).mean())
    assert errors[64] < 0.05 * scale, errors  # measured 0.02x at T=32 (tiny net)
    assert errors[64] < errors[4] / 2, errors  # more timesteps, closer to the ANN


def test_scales_are_the_percentile_of_nonzero_relu_activations(converted):
    d, net, x = converted
    graph = nd.load(d / "cnn.nir")
    acts = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, o: acts.append(o.detach().numpy()))
        for m in net
        if isinstance(m, torch.nn.ReLU)
    ]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    lam = [float(np.percentile(a[a > 0], 99.9)) for a in acts]
    # conv1 = BN-folded conv / λ1; fc2 = W * λ1 / λ2; readout = W3 * λ2 (threshold 1, r 1)
    w_fc2 = graph.nodes["fc2"].param("weight")
    np.testing.assert_allclose(
        w_fc2, net[5].weight.detach().double().numpy() * lam[0] / lam[1], rtol=1e-6
    )
    np.testing.assert_allclose(
        graph.nodes["readout_fc"].param("weight"),
        net[7].weight.detach().double().numpy() * lam[1],
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        graph.nodes["readout_fc"].param("bias"), net[7].bias.detach().double().numpy(), rtol=1e-6
    )
    assert graph.nodes["if1"].reset == "subtract" and graph.metadata["input_coding"] == "poisson"


@pytest.mark.parametrize(
    "target, options",
    [
        ("loihi", {}),
        ("spinnaker", {}),
        ("onnx", {}),
        ("speck", {"speck_host_readout": True}),  # Speck reads out spikes: the I runs on the host
    ],
)
def test_converted_graph_verifies_on_targets(converted, target, options):
    d, _, _ = converted
    x = np.load(d / "x_t.npy")
    assert x.shape == (12, 3, 2, 16, 16) and set(np.unique(x)) <= {0.0, 1.0}
    nd.export(d / "cnn.nir", target, d / target, **options)
    result = nd.verify_export(d / target, x=x, witness_samples=1)
    assert result.ok, result.summary()
    assert sum(c.mismatches for c in result.comparisons) == 0 and result.comparisons


def test_loihi_refuses_direct_analog_input(converted, tmp_path):
    d, _, x = converted
    nd.convert(d / "cnn.onnx", x.numpy() * 0.5, tmp_path / "direct.nir", coding="direct")
    nd.export(tmp_path / "direct.nir", "loihi", tmp_path / "loihi")
    analog = encode(x.numpy()[:2] * 0.5, 4, "direct", 1.0)
    with pytest.raises(NrfError, match="Loihi"):
        nd.run(tmp_path / "loihi", analog)


class _Abs(torch.nn.Module):
    def forward(self, x):
        return torch.abs(x)


class _Residual(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Linear(8, 8), torch.nn.Linear(8, 2)

    def forward(self, x):
        return self.b(torch.relu(self.a(x)) + x)


@pytest.mark.parametrize(
    "layers, message, node",
    [
        (
            [torch.nn.Linear(8, 8), torch.nn.Sigmoid(), torch.nn.Linear(8, 2)],
            "'Sigmoid' is not a ReLU",
            "Sigmoid",
        ),
        (
            [torch.nn.Linear(8, 8), _Abs(), torch.nn.Linear(8, 2)],
            "operator 'Abs' is not supported",
            "Abs",
        ),
        (None, "not a single chain", "Add"),
        (
            [torch.nn.Linear(8, 8), torch.nn.Linear(8, 2)],
            "two weighted layers without a ReLU",
            "Gemm",
        ),
    ],
)
def test_unsupported_networks_get_one_message(tmp_path, capsys, layers, message, node):
    net = (torch.nn.Sequential(*layers) if layers else _Residual()).eval()
    _export(net, tmp_path / "m.onnx", shape=(8,))
    np.save(tmp_path / "cal.npy", np.random.default_rng(0).random((16, 8)).astype(np.float32))
    code = main(
        [
            "convert",
            str(tmp_path / "m.onnx"),
            "--calibration",
            str(tmp_path / "cal.npy"),
            "-o",
            str(tmp_path / "m.nir"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and node in err and "what to do" in err and "Traceback" not in err
    assert not (tmp_path / "m.nir").exists()


def test_maxpool_and_missing_calibration_are_refused(tmp_path, capsys):
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 7 * 7, 2),
    ).eval()
    _export(net, tmp_path / "mp.onnx")
    np.save(tmp_path / "cal.npy", np.ones((4, 2, 16, 16), np.float32))
    assert (
        main(
            [
                "convert",
                str(tmp_path / "mp.onnx"),
                "--calibration",
                str(tmp_path / "cal.npy"),
                "-o",
                str(tmp_path / "mp.nir"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "MaxPool is not representable" in err and "AveragePool" in err
    net[2] = torch.nn.AvgPool2d(2)
    _export(net, tmp_path / "ap.onnx")
    assert main(["convert", str(tmp_path / "ap.onnx"), "-o", str(tmp_path / "ap.nir")]) == 2
    err = capsys.readouterr().err
    assert "no calibration set" in err and "--calibration" in err
    np.save(tmp_path / "bad.npy", np.ones((4, 3, 16, 16), np.float32))
    assert (
        main(
            [
                "convert",
                str(tmp_path / "ap.onnx"),
                "--calibration",
                str(tmp_path / "bad.npy"),
                "-o",
                str(tmp_path / "ap.nir"),
            ]
        )
        == 2
    )
    assert "[N, 2, 16, 16]" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.nir"))


def test_a_misread_model_is_caught_by_the_onnxruntime_check(converted, tmp_path, monkeypatch):
    """Injected fault: a reader that forgets to fold BatchNorm must not produce a graph."""
    d, _, x = converted
    monkeypatch.setattr(onnx_reader, "_fold_batchnorm", lambda *args: None)
    with pytest.raises(GraphError, match="differs from onnxruntime"):
        nd.convert(d / "cnn.onnx", x.numpy(), tmp_path / "bad.nir")
    assert not (tmp_path / "bad.nir").exists()
