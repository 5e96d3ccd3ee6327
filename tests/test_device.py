"""--device cuda: the integer references give the CPU's bits on a GPU (skipped without one) and
the flag fails cleanly where it cannot apply."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from graphs import lif_chain
from nrf_deploy.targets import get_target

from nrf_deploy.cli import main
from nrf_deploy.device import on_device
from nrf_deploy.errors import NrfError
from nrf_deploy.inputs import random_events
from nrf_deploy.ir import nodes as ir
from nrf_deploy.ir.write import write_nir

HAS_CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def chain_export(tmp_path_factory):
    d = tmp_path_factory.mktemp("device")
    write_nir(d / "chain.nir", lif_chain(6, 5))
    assert main(["export", str(d / "chain.nir"), "--target", "spinnaker", "-o", str(d / "sp")]) == 0
    np.save(d / "x.npy", random_events((6,), 8, 3, 0.3, seed=1))
    return d


@pytest.mark.skipif(HAS_CUDA, reason="checks the message shown where no GPU is present")
def test_cuda_without_a_gpu_is_one_clear_error(chain_export, capsys):
    with pytest.raises(NrfError, match="no CUDA GPU"), on_device("cuda"):
        pass
    assert main(["verify", str(chain_export / "sp"), "--samples", "2", "--device", "cuda"]) == 2
    assert "--device" in capsys.readouterr().err


def test_cpu_only_backend_refuses_the_gpu(chain_export, capsys):
    assert (
        main(
            [
                "run",
                str(chain_export / "sp"),
                "--backend",
                "emulator",
                "--input",
                str(chain_export / "x.npy"),
                "-o",
                str(chain_export / "o.npz"),
                "--device",
                "cuda",
            ]
        )
        == 2
    )
    assert "runs on the CPU only" in capsys.readouterr().err
    assert not (chain_export / "o.npz").exists()


def two_layer(n_in: int = 6, n_hid: int = 8, n_out: int = 3) -> ir.NIRGraph:
    """Input -> Affine -> LIF -> Affine -> LIF -> Output (small enough for Xylo)."""
    rng = np.random.default_rng(0)

    def lif(n):
        return ir.LIF(
            tau=np.full(n, 0.02), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n)
        )

    return ir.NIRGraph(
        nodes={
            "in": ir.Input({"input": np.array([n_in])}),
            "fc1": ir.Affine(rng.normal(1, 1, (n_hid, n_in)), np.zeros(n_hid)),
            "lif1": lif(n_hid),
            "fc2": ir.Affine(rng.normal(1, 1, (n_out, n_hid)), np.zeros(n_out)),
            "lif2": lif(n_out),
            "out": ir.Output({"output": np.array([n_out])}),
        },
        edges=[("in", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "out")],
    )


@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA GPU: the GPU-vs-CPU comparison needs one")
@pytest.mark.parametrize("target_name", ["loihi", "spinnaker", "speck", "xylo"])
def test_reference_on_gpu_is_bit_identical_to_cpu(target_name, fixture_path, tmp_path):
    """The sinabs CNN fixture (Xylo: a two-layer graph, the CNN does not fit it)."""
    model = fixture_path
    if target_name == "xylo":
        model = tmp_path / "two_layer.nir"
        write_nir(model, two_layer())
    out = tmp_path / target_name
    assert main(["export", str(model), "--target", target_name, "-o", str(out)]) == 0
    target = get_target(target_name)
    deployment = target.load(out)
    x = random_events(deployment.input_shape, 6, 8, 0.2, seed=3)
    reference = target.backend_names(deployment)[0]
    cpu = target.run(deployment, reference, x)
    with on_device("cuda"):
        gpu = target.run(deployment, reference, x)
    for key, a in cpu.arrays().items():
        np.testing.assert_array_equal(gpu.arrays()[key], a, err_msg=key)
