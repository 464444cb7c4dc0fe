"""LinearRegression as a drop-in for nn.Linear(D, 1), and training with the fused loss."""

import pytest
import torch
from conftest import DEVICES, make_problem
from torch import nn

import linreg_ext
from linreg_ext import reference


@pytest.mark.parametrize("D", [1, 16])
def test_same_parameters_and_init_as_nn_linear(D):
    torch.manual_seed(123)
    ours = linreg_ext.LinearRegression(D)
    torch.manual_seed(123)
    theirs = nn.Linear(D, 1)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [
        (n, p.shape) for n, p in theirs.named_parameters()
    ]
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("device", DEVICES)
def test_state_dicts_load_both_ways(device):
    theirs = nn.Linear(4, 1, dtype=torch.float64, device=device)
    ours = linreg_ext.LinearRegression(4, dtype=torch.float64, device=device)
    ours.load_state_dict(theirs.state_dict())
    X = torch.randn(9, 4, dtype=torch.float64, device=device)
    out = ours(X)
    assert out.shape == (9, 1)
    torch.testing.assert_close(out, theirs(X), rtol=1e-14, atol=1e-14)
    with torch.no_grad():
        ours.weight.mul_(2.0)
    theirs.load_state_dict(ours.state_dict())
    torch.testing.assert_close(theirs(X), ours(X), rtol=1e-14, atol=1e-14)


def test_in_features_is_validated():
    with pytest.raises(ValueError, match="in_features must be a positive int, got 0"):
        linreg_ext.LinearRegression(0)


def sgd_run(loss_fn, X, y, steps):
    torch.manual_seed(7)
    model = linreg_ext.LinearRegression(X.shape[1], dtype=X.dtype, device=X.device)
    opt = torch.optim.SGD(model.parameters(), lr=0.011, momentum=0.89)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(X, model.weight, model.bias, y).backward()
        opt.step()
    return model.weight.detach(), model.bias.detach()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_training_matches_reference(device, dtype):
    X, _, _, y = make_problem(1000, 3, dtype, device, y_2d=True)
    got = sgd_run(linreg_ext.fused_mse_loss, X, y, steps=200)
    want = sgd_run(reference.fused_mse_loss, X, y, steps=200)
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, **tol)
    # and the run did learn: the weights are the least-squares solution
    X64, y64 = X.double(), y.double().reshape(-1)
    A = torch.cat([X64, torch.ones(len(X64), 1, dtype=torch.float64, device=device)], dim=1)
    solution = torch.linalg.lstsq(A.cpu(), y64.cpu()).solution
    fitted = torch.cat([got[0].reshape(-1), got[1]]).double().cpu()
    torch.testing.assert_close(fitted, solution, rtol=0, atol=1e-3)
