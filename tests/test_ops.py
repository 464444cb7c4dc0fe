"""The ops against the plain-PyTorch reference: values, layouts, autograd, opcheck, compile, errors.

Accuracy is judged against the float64 reference evaluated on the same (upcast) inputs. A float32
kernel must be at least as accurate as PyTorch's own float32 path (a ratio of errors, plus one
rounding of the output) and within 1e-6 relative error, norm-wise: linreg_ext/_accuracy.py holds
the rule, which the benchmark applies too. Layouts and requires_grad come from conftest's
sample_inputs().
"""

import inspect

import pytest
import torch
from conftest import (
    DEVICES,
    assert_accurate,
    check_against_reference,
    make_problem,
    naming,
    relayout,
    sample_inputs,
)

import linreg_ext
from linreg_ext import reference

SHAPES = [(1, 1), (1, 7), (5, 1), (33, 3), (4099, 17), (1000, 256), (257, 1025)]
LARGE_SHAPES = [(2_000_003, 1), (2_000_003, 4)]
DTYPES = [torch.float32, torch.float64]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("y_2d", [False, True], ids=["y_N", "y_Nx1"])
def test_matches_reference(device, dtype, shape, y_2d):
    check_against_reference(*make_problem(*shape, dtype, device, seed=shape[0], y_2d=y_2d))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_samples_match_reference(device, dtype):
    # Every layout, and inputs that require grad (the op then runs through its autograd kernel).
    for sample in sample_inputs(device, dtype):
        check_against_reference(*sample.args, what=f"{sample}: ")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", LARGE_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_matches_reference_large(device, dtype, shape):
    check_against_reference(*make_problem(*shape, dtype, device, seed=1))


def test_float32_beats_pytorch_at_10M_rows():
    # PyTorch's float32 X^T r over 10M rows loses several digits; the kernel must not.
    X, weight, bias, y = make_problem(10_000_000, 1, torch.float32, seed=2)
    y = y + 3.0  # a biased residual: the hard case for a float32 running sum
    check_against_reference(X, weight, bias, y)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", ["transposed", "sliced"])
@pytest.mark.parametrize("shape", [(1, 1), (7, 1), (4099, 17), (300, 64)], ids=str)
def test_non_contiguous_inputs(device, dtype, layout, shape):
    X, weight, bias, y = make_problem(*shape, dtype, device, seed=3)
    Xn, wn, _, yn = relayout(X, weight, bias, y, layout)
    # Size-1 dimensions make a view contiguous whatever its strides (a transposed column).
    if shape[0] > 1 and (shape[1] > 1 or layout == "sliced"):
        assert not Xn.is_contiguous() and not yn.is_contiguous()
    assert shape[1] == 1 or not wn.is_contiguous()
    check_against_reference(Xn, wn, bias, yn)
    # Layout must not change the math: same as the contiguous inputs.
    for a, b in zip(
        linreg_ext.linear_mse_grad(Xn, wn, bias, yn),
        linreg_ext.linear_mse_grad(X, weight, bias, y),
        strict=True,
    ):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("device", DEVICES)
def test_weight_as_row_and_scalar_bias(device):
    X, weight, bias, y = make_problem(100, 5, torch.float64, device)
    loss, gw, gb = linreg_ext.linear_mse_grad(X, weight.reshape(1, 5), bias.reshape(()), y)
    assert gw.shape == (1, 5) and gb.shape == ()
    ref = reference.linear_mse_grad(X, weight, bias, y)
    torch.testing.assert_close(gw.reshape(5), ref[1])
    torch.testing.assert_close(gb.reshape(1), ref[2])
    torch.testing.assert_close(loss, ref[0])


@pytest.mark.parametrize("device", DEVICES)
def test_linear_forward_empty_batch(device):
    X = torch.empty(0, 3, device=device)
    pred = linreg_ext.linear_forward(X, torch.ones(3, device=device), torch.ones(1, device=device))
    assert pred.shape == (0,) and pred.dtype == torch.float32


@pytest.mark.parametrize("device", DEVICES)
def test_zero_features(device):
    # D = 0: the model is its bias alone.
    X = torch.empty(4, 0, dtype=torch.float64, device=device)
    w = torch.empty(0, dtype=torch.float64, device=device)
    b = torch.tensor([2.0], dtype=torch.float64, device=device)
    y = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64, device=device)
    loss, gw, gb = linreg_ext.linear_mse_grad(X, w, b, y)
    assert loss.item() == pytest.approx((1 + 0 + 1 + 4) / 4)
    assert gw.shape == (0,) and gb.item() == pytest.approx(2 * (1 + 0 - 1 - 2) / 4)
    assert linreg_ext.linear_forward(X, w, b).tolist() == [2.0] * 4


@pytest.mark.parametrize("device", DEVICES)
def test_nan_and_inf_propagate(device):
    X, weight, bias, y = make_problem(1000, 3, torch.float32, device)
    X[17, 1] = float("nan")
    loss, gw, gb = linreg_ext.linear_mse_grad(X, weight, bias, y)
    assert loss.isnan() and gb.isnan() and gw.isnan().all()
    assert linreg_ext.linear_forward(X, weight, bias)[17].isnan()
    X[17, 1] = 0.0
    y[3] = float("inf")
    loss, gw, gb = linreg_ext.linear_mse_grad(X, weight, bias, y)
    assert loss.isinf() and gb.isinf()


@pytest.mark.parametrize("device", DEVICES)
def test_bitwise_deterministic(device):
    args = make_problem(1_000_003, 5, torch.float32, device, seed=4)
    first = linreg_ext.linear_mse_grad(*args)
    for _ in range(3):
        for a, b in zip(linreg_ext.linear_mse_grad(*args), first, strict=True):
            assert torch.equal(a, b)


def test_thread_count_changes_only_rounding():
    args = make_problem(500_000, 3, torch.float64, seed=5)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = linreg_ext.linear_mse_grad(*args)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(linreg_ext.linear_mse_grad(*args), single, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)


# --- autograd -------------------------------------------------------------------------------


def for_gradcheck(op, sample):
    """(fn, leaves): op applied to the sample, as a function of inputs gradcheck can perturb.

    gradcheck nudges one element at a time, which a stride-0 input cannot hold (its elements share
    memory): such an input enters as its one stored slice and fn expands it back, so the op still
    reads a stride-0 tensor. op takes the sample's first arguments (linear_forward: X, weight,
    bias).
    """
    arity = len(inspect.signature(op).parameters)
    leaves, shapes = [], []
    for t in sample.args[:arity]:
        shared = [d for d in range(t.dim()) if t.stride(d) == 0 and t.shape[d] > 1]
        if t.requires_grad and shared:
            stored = t.detach()
            for d in shared:
                stored = stored.narrow(d, 0, 1)
            leaves.append(stored.clone().requires_grad_())
            shapes.append(t.shape)
        else:
            leaves.append(t)
            shapes.append(None)

    def fn(*leaves):
        args = [
            t if shape is None else t.expand(shape) for t, shape in zip(leaves, shapes, strict=True)
        ]
        return op(*args)

    return fn, leaves


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_fused_mse_loss(device):
    for sample in sample_inputs(device, torch.float64):
        if not sample.requires_grad:
            continue
        fn, leaves = for_gradcheck(linreg_ext.fused_mse_loss, sample)
        with naming(sample):
            assert torch.autograd.gradcheck(fn, leaves)
            assert torch.autograd.gradgradcheck(fn, leaves)


@pytest.mark.parametrize("device", DEVICES)
def test_gradcheck_linear_forward(device):
    for sample in sample_inputs(device, torch.float64, y_2d=(False,)):
        if sample.args[3].requires_grad or not any(t.requires_grad for t in sample.args[:3]):
            continue  # y is not an input of linear_forward: the other samples cover it
        fn, leaves = for_gradcheck(linreg_ext.linear_forward, sample)
        with naming(sample):
            assert torch.autograd.gradcheck(fn, leaves)
            assert torch.autograd.gradgradcheck(fn, leaves)


@pytest.mark.parametrize("device", DEVICES)
def test_fused_loss_gradients_match_reference_autograd(device):
    for sample in sample_inputs(device, torch.float64, shapes=[(513, 7)], y_2d=(True,)):
        if not sample.requires_grad:
            continue
        grads = []
        for fn in (linreg_ext.fused_mse_loss, reference.fused_mse_loss):
            args = [t.detach().requires_grad_(t.requires_grad) for t in sample.args]  # fresh
            loss = fn(*args)
            loss.backward(torch.tensor(0.75, dtype=torch.float64, device=device))
            grads.append([a.grad for a in args])
        for got, want in zip(*grads, strict=True):
            if want is None:
                assert got is None, sample
            else:
                torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14, msg=str(sample))


def test_returned_gradients_are_not_differentiable():
    X, weight, bias, y = make_problem(10, 2, torch.float64)
    loss, gw, gb = linreg_ext.linear_mse_grad(X, weight.requires_grad_(), bias, y)
    assert loss.requires_grad and not gw.requires_grad and not gb.requires_grad


# --- opcheck and torch.compile --------------------------------------------------------------


# torch.library.opcheck's checks; the last compiles (about half a second a call), so it runs on
# fewer samples: where all inputs or none require grad, on the contiguous layout and, for the
# larger problem, on every layout. The others run on every sample.
OPCHECK_CHEAP = ("test_schema", "test_autograd_registration", "test_faketensor")
OPCHECK_ALL = (*OPCHECK_CHEAP, "test_aot_dispatch_dynamic")


def opcheck_utils(sample, arity, larger):
    full = sample.all_or_none_require_grad(arity) and (
        sample.layout == "contiguous" or tuple(sample.args[0].shape) == larger
    )
    return OPCHECK_ALL if full else OPCHECK_CHEAP


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    forward = torch.ops.linreg_ext.linear_forward.default
    mse_grad = torch.ops.linreg_ext.linear_mse_grad.default
    for sample in sample_inputs(device, torch.float64, shapes=[(1, 1), (37, 5)]):
        X, weight, bias, y = sample.args
        with naming(sample):
            if y.dim() == 1 and not y.requires_grad:  # the other samples repeat X, weight, bias
                utils = opcheck_utils(sample, 3, larger=(37, 5))
                torch.library.opcheck(forward, (X, weight, bias), test_utils=utils)
            utils = opcheck_utils(sample, 4, larger=(37, 5))
            torch.library.opcheck(mse_grad, sample.args, test_utils=utils)


@pytest.mark.parametrize("device", DEVICES)
def test_compiled_training_step_matches_eager(device):
    torch._dynamo.reset()
    X, _, _, y = make_problem(2048, 4, torch.float32, device, y_2d=True)

    def run(compiled):
        torch.manual_seed(0)
        model = linreg_ext.LinearRegression(4).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.011, momentum=0.89)

        def loss_and_pred(X, y):
            return model.loss(X, y), model(X)

        step = torch.compile(loss_and_pred, fullgraph=True) if compiled else loss_and_pred
        for _ in range(5):
            opt.zero_grad()
            loss, pred = step(X, y)
            loss.backward()
            opt.step()
        return loss.detach(), pred.detach(), model.weight.detach(), model.bias.detach()

    for got, want in zip(run(True), run(False), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


# AotEagerAndRecordGraphs, PyTorch's own test backend, returns unboxed functions and says so.
@pytest.mark.filterwarnings("ignore:Your compiler for AOTAutograd:UserWarning")
def test_compiled_backward_only_scales_saved_gradients():
    from torch._dynamo.testing import AotEagerAndRecordGraphs

    torch._dynamo.reset()
    backend = AotEagerAndRecordGraphs()
    X, weight, bias, y = make_problem(64, 3, torch.float32)
    weight.requires_grad_()
    bias.requires_grad_()
    compiled = torch.compile(linreg_ext.fused_mse_loss, backend=backend, fullgraph=True)
    compiled(X, weight, bias, y).backward()

    def ops(graphs):
        return {str(n.target) for g in graphs for n in g.graph.nodes if n.op == "call_function"}

    assert "linreg_ext.linear_mse_grad.default" in ops(backend.fw_graphs)
    assert ops(backend.bw_graphs) == {"aten.mul.Tensor"}, ops(backend.bw_graphs)
    torch.testing.assert_close(weight.grad, reference.linear_mse_grad(X, weight, bias, y)[1])


# --- bad input --------------------------------------------------------------------------------


def good(device="cpu", dtype=torch.float32):
    X, weight, bias, y = make_problem(5, 3, dtype, device)
    return {"X": X, "weight": weight, "bias": bias, "y": y}


BAD_INPUTS = [
    ("X", lambda a: a["X"][0], r"X must be 2-D \[N, D\], got 1-D with shape \[3\]"),
    ("X", lambda a: a["X"].reshape(5, 3, 1), r"X must be 2-D \[N, D\], got 3-D"),
    ("X", lambda a: a["X"].long(), r"X must be a floating-point tensor, got dtype int64"),
    (
        "weight",
        lambda a: a["weight"][:2],
        r"weight must have shape \[3\] or \[1, 3\].*got shape \[2\]",
    ),
    (
        "weight",
        lambda a: a["weight"].reshape(3, 1),
        r"weight must have shape \[3\].*got shape \[3, 1\]",
    ),
    (
        "weight",
        lambda a: a["weight"].double(),
        r"weight must have the dtype of X \(float32\), got float64",
    ),
    ("bias", lambda a: a["bias"].repeat(2), r"bias must have shape \[1\].*got shape \[2\]"),
    ("bias", lambda a: a["bias"].reshape(1, 1), r"bias must have shape \[1\].*got shape \[1, 1\]"),
    ("bias", lambda a: a["bias"].half(), r"bias must have the dtype of X \(float32\), got float16"),
    ("y", lambda a: a["y"][:4], r"y must have shape \[5\] or \[5, 1\].*got shape \[4\]"),
    ("y", lambda a: a["y"].reshape(5, 1).repeat(1, 2), r"y must have shape.*got shape \[5, 2\]"),
    ("y", lambda a: a["y"].int(), r"y must have the dtype of X \(float32\), got int32"),
]


def call(op, a):
    if op == "linear_forward":
        return linreg_ext.linear_forward(a["X"], a["weight"], a["bias"])
    return linreg_ext.linear_mse_grad(a["X"], a["weight"], a["bias"], a["y"])


OPS_AND_ARGS = [
    (op, arg)
    for op in ("linear_forward", "linear_mse_grad")
    for arg in ("weight", "bias", "y")
    if not (op == "linear_forward" and arg == "y")
]


# "meta" runs the Python fake kernels, which must give the C++ checks' messages.
@pytest.mark.parametrize("device", [*DEVICES, "meta"])
@pytest.mark.parametrize(
    "op, arg, corrupt, message",
    [
        pytest.param(op, arg, corrupt, message, id=f"{op}-{arg}{i}")
        for op in ("linear_forward", "linear_mse_grad")
        for i, (arg, corrupt, message) in enumerate(BAD_INPUTS)
        if not (op == "linear_forward" and arg == "y")
    ],
)
def test_bad_input_is_named(device, op, arg, corrupt, message):
    a = good(device)
    a[arg] = corrupt(a)
    with pytest.raises(RuntimeError, match=f"{op}: {message}"):
        call(op, a)


@pytest.mark.parametrize("device", [*DEVICES, "meta"])
def test_empty_batch_has_no_mean(device):
    a = good(device)
    a["X"], a["y"] = a["X"][:0], a["y"][:0]
    with pytest.raises(
        RuntimeError, match=r"linear_mse_grad: X must have at least one row.*\[0, 3\]"
    ):
        call("linear_mse_grad", a)


@pytest.mark.parametrize("op", ["linear_forward", "linear_mse_grad"])
def test_half_is_refused_on_cpu(op):
    a = {k: v.half() for k, v in good().items()}
    with pytest.raises(
        RuntimeError,
        match=f"{op}: the CPU kernel supports X of dtype float32, float64, got float16",
    ):
        call(op, a)


@pytest.mark.parametrize("op, arg", OPS_AND_ARGS)
def test_mixed_devices_are_named(op, arg):
    # The dispatcher sends mixed cpu/meta calls to the fake kernel; cpu/cuda is tested below.
    a = good()
    a[arg] = a[arg].to("meta")
    with pytest.raises(
        RuntimeError, match=rf"{op}: {arg} must be on the device of X \(cpu\), got meta"
    ):
        call(op, a)


@pytest.mark.cuda
@pytest.mark.parametrize("op, arg", OPS_AND_ARGS)
def test_mixed_cpu_cuda_devices_are_named(op, arg):
    a = good()
    a[arg] = a[arg].cuda()
    with pytest.raises(
        RuntimeError, match=rf"{op}: {arg} must be on the device of X \(cpu\), got cuda:0"
    ):
        call(op, a)


# --- 64-bit indexing --------------------------------------------------------------------------


def available_memory_bytes():
    with open("/proc/meminfo") as f:
        fields = dict(line.split(":", 1) for line in f)
    return int(fields["MemAvailable"].split()[0]) * 1024


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_more_than_2_31_elements(device):
    N, D = 2**25 + 3, 64  # N * D = 2**31 + 192 elements of X, 8.6 GB of float32
    free = torch.cuda.mem_get_info()[0] if device == "cuda" else available_memory_bytes()
    if free < 12 * 2**30:
        pytest.skip(f"needs 12 GiB of free {device} memory for a [2**25 + 3, 64] float32 X")
    g = torch.Generator(device=device).manual_seed(6)
    X = torch.empty(N, D, device=device)
    chunk = 2**20
    for start in range(0, N, chunk):
        X[start : start + chunk].uniform_(-1, 1, generator=g)
    weight = torch.randn(D, generator=g, device=device)
    bias = torch.randn(1, generator=g, device=device)
    y = torch.randn(N, generator=g, device=device)
    # The rows whose elements lie past index 2**31 dominate the sums, so reading them wrongly
    # (a 32-bit index) would change every output far beyond rounding.
    y[2**31 // D :] += 1e5
    loss, grad_weight, grad_bias = linreg_ext.linear_mse_grad(X, weight, bias, y)
    pred = linreg_ext.linear_forward(X, weight, bias)

    # The float64 reference, a chunk of rows at a time.
    sums = torch.zeros(D + 2, dtype=torch.float64, device=device)
    w64, b64 = weight.double(), bias.double()
    for start in range(0, N, chunk):
        Xc = X[start : start + chunk].double()
        pc = reference.linear_forward(Xc, w64, b64)
        torch.testing.assert_close(pred[start : start + chunk], pc.float(), rtol=1e-6, atol=1e-6)
        r = pc - y[start : start + chunk].double()
        sums[0] += (r * r).sum()
        sums[1] += r.sum()
        sums[2:] += r @ Xc
    torch.testing.assert_close(loss.double(), sums[0] / N, rtol=1e-6, atol=0)
    torch.testing.assert_close(grad_bias.double(), 2 * sums[1:2] / N, rtol=1e-6, atol=0)
    torch.testing.assert_close(grad_weight.double(), 2 * sums[2:] / N, rtol=1e-5, atol=1e-7)


# --- layouts the vectorized loops must handle -------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_random_shapes_and_views(dtype):
    # Every D from 0 to 140 crosses each loop's edge: vector tails, 8-row blocks, D > 64.
    g = torch.Generator().manual_seed(8)
    for D in range(141):
        N = int(torch.randint(1, 40, (1,), generator=g))
        base = torch.randn(N + 3, D + 5, generator=g, dtype=torch.float64)
        views = [base[:N, :D], base[1 : N + 1, 2 : D + 2], base[:N, :D].t().contiguous().t()]
        for X in views:
            X = X.to(dtype)
            w = torch.randn(D, generator=g, dtype=torch.float64).to(dtype)
            b = torch.randn(1, generator=g, dtype=torch.float64).to(dtype)
            y = torch.randn(N, generator=g, dtype=torch.float64).to(dtype)
            check_against_reference(X, w, b, y)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("D", [1, 3, 13, 16, 70])
def test_values_beside_the_view_are_never_used(dtype, D):
    # The kernels load whole vectors and mask off columns past D; NaN there must not leak.
    big = torch.full((50, D + 17), float("nan"), dtype=dtype)
    big[:, :D] = torch.randn(50, D, dtype=dtype)
    X = big[:, :D]
    w, b, y = torch.randn(D, dtype=dtype), torch.zeros(1, dtype=dtype), torch.randn(50, dtype=dtype)
    assert all(torch.isfinite(t).all() for t in linreg_ext.linear_mse_grad(X, w, b, y))
    assert torch.isfinite(linreg_ext.linear_forward(X, w, b)).all()
    check_against_reference(X, w, b, y)


# --- CUDA only: half types, agreement with the CPU, CUDA graphs --------------------------------


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize(
    "shape", [(1, 1), (4099, 17), (100_003, 1), (1000, 256), (257, 1025)], ids=str
)
def test_half_types_match_float32_reference(dtype, shape):
    X, weight, bias, y = (t.to(dtype) for t in make_problem(*shape, torch.float32, "cuda"))
    ref32 = reference.linear_mse_grad(X.float(), weight.float(), bias.float(), y.float())
    theirs = reference.linear_mse_grad(X, weight, bias, y)  # PyTorch's own half-precision path
    got = linreg_ext.linear_mse_grad(X, weight, bias, y)
    for name, g, t, r in zip(("loss", "grad_weight", "grad_bias"), got, theirs, ref32, strict=True):
        assert_accurate(g, r, t, name)  # the ratio rule: within 2x PyTorch's own error + rounding
    pred = linreg_ext.linear_forward(X, weight, bias)
    pred32 = reference.linear_forward(X.float(), weight.float(), bias.float())
    assert_accurate(pred, pred32, reference.linear_forward(X, weight, bias), "pred")


@pytest.mark.cuda
@pytest.mark.parametrize("shape", [(1, 1), (4099, 17), (1000, 256), (300, 4096)], ids=str)
def test_cuda_agrees_with_cpu(shape):
    args = make_problem(*shape, torch.float64, seed=11)
    cpu = linreg_ext.linear_mse_grad(*args)
    gpu = linreg_ext.linear_mse_grad(*(t.cuda() for t in args))
    for a, b in zip(cpu, gpu, strict=True):
        torch.testing.assert_close(b.cpu(), a, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(
        linreg_ext.linear_forward(*(t.cuda() for t in args[:3])).cpu(),
        linreg_ext.linear_forward(*args[:3]),
        rtol=1e-12,
        atol=1e-14,
    )


@pytest.mark.cuda
def test_cuda_graphs_give_the_eager_result():
    # mode="reduce-overhead" captures CUDA graphs: a kernel on the wrong stream breaks capture.
    torch._dynamo.reset()
    X, weight, bias, y = make_problem(4096, 8, torch.float32, "cuda")

    def step(weight, bias):
        loss, grad_weight, grad_bias = linreg_ext.linear_mse_grad(X, weight, bias, y)
        return loss, weight - 0.011 * grad_weight, bias - 0.011 * grad_bias

    compiled = torch.compile(step, mode="reduce-overhead")
    for _ in range(3):  # warm-up, capture, replay
        got = [t.clone() for t in compiled(weight, bias)]
    for a, b in zip(got, step(weight, bias), strict=True):
        torch.testing.assert_close(a, b)
