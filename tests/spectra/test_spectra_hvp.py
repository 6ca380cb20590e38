"""HVP and GGN matvecs against explicit matrices on a tiny MLP small enough to build them densely."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.conftest import with_cuda
from workbench.spectra.hvp import bn_stats, chunked, curvature_operator, flatten, refresh_bn_stats, trainable


def _tiny(bn=False, seed=0):
    torch.manual_seed(seed)
    layers = [nn.Linear(3, 4)] + ([nn.BatchNorm1d(4)] if bn else []) + [nn.Tanh(), nn.Linear(4, 3)]
    model = nn.Sequential(*layers).double()
    x = torch.randn(10, 3, dtype=torch.float64)
    y = torch.randint(0, 3, (10,))
    return model, x, y


def _explicit_hessian(model, x, y, train=False):
    names = list(trainable(model))
    params = [p.detach().clone() for p in trainable(model).values()]
    shapes = [p.shape for p in params]
    model.train(train)

    def loss_of(flat):
        ps, i = {}, 0
        for n, s in zip(names, shapes):
            ps[n] = flat[i:i + s.numel()].view(s)
            i += s.numel()
        bufs = {n: b.clone() for n, b in model.named_buffers()}  # train-mode BN must not touch the model's
        out = torch.func.functional_call(model, {**ps, **bufs}, (x,))
        return F.cross_entropy(out, y)
    return torch.autograd.functional.hessian(loss_of, flatten(params))


def _dense(op):
    return torch.stack([op(e) for e in torch.eye(op.dim, dtype=torch.float64)], dim=1)


@pytest.mark.parametrize("method", ["double_backward", "func"])
def test_hvp_matches_autograd_hessian(method):
    """HVP columns equal torch.autograd.functional.hessian, one chunk and averaged over 3 uneven chunks.

    Does not prove: anything for float32 rounding, conv/BN layers, or large models (only a 31-parameter MLP)."""
    model, x, y = _tiny()
    H = _explicit_hessian(model, x, y)
    for chunks, keep in (([(x, y)], 4), (chunked(x, y, 4), 4), (chunked(x, y, 4), 1)):  # keep=1: graphs rebuilt
        op = curvature_operator(model, F.cross_entropy, chunks, method=method, keep_graphs=keep)
        assert op.dim == H.shape[0] == 31
        torch.testing.assert_close(_dense(op), H, rtol=1e-8, atol=1e-10)


def test_hvp_bn_train_mode_uses_batch_stats_and_keeps_buffers():
    """With BN in train mode the HVP is the Hessian of the batch-statistics loss; buffers are untouched.

    Does not prove: the eval-mode Hessian after refresh equals anything in particular beyond its own
    explicit form (checked below), nor BatchNorm2d."""
    model, x, y = _tiny(bn=True)
    refresh_bn_stats(model, [(x, y)])
    before = {n: b.clone() for n, b in model.named_buffers()}
    for mode, method, keep in [("train", "double_backward", 4), ("train", "double_backward", 0), ("train", "func", 4),
                               ("eval", "func", 4), ("eval", "double_backward", 0)]:
        op = curvature_operator(model, F.cross_entropy, [(x, y)], bn=mode, method=method, keep_graphs=keep)
        torch.testing.assert_close(_dense(op), _explicit_hessian(model, x, y, train=mode == "train"))
        assert op.info()["bn_mode"] == mode
    for n, b in model.named_buffers():
        assert torch.equal(b, before[n]), n
    # the two modes differ: otherwise the test would not distinguish them
    a = _dense(curvature_operator(model, F.cross_entropy, [(x[:4], y[:4])], bn="train"))
    b = _dense(curvature_operator(model, F.cross_entropy, [(x[:4], y[:4])], bn="eval"))
    assert (a - b).abs().max() > 1e-3


@pytest.mark.parametrize("method", ["double_backward", "func"])
def test_ggn_matches_explicit_jt_h_j(method):
    """GGN matvec (J v by double vjp or in forward mode) equals J^T H_out J built from the explicit Jacobian and
    the softmax cross-entropy Hessian.

    Does not prove: GGN for other losses (the code is generic, only cross-entropy is checked), or BN."""
    model, x, y = _tiny()
    names = list(trainable(model))
    params = [p.detach().clone() for p in trainable(model).values()]
    shapes = [p.shape for p in params]

    def out_of(flat):
        ps, i = {}, 0
        for n, s in zip(names, shapes):
            ps[n] = flat[i:i + s.numel()].view(s)
            i += s.numel()
        return torch.func.functional_call(model, ps, (x,))
    theta = flatten(params)
    J = torch.autograd.functional.jacobian(out_of, theta).reshape(-1, theta.numel())  # (N*C, P)
    p = torch.softmax(out_of(theta), dim=1)
    blocks = [(torch.diag(pi) - torch.outer(pi, pi)) / len(x) for pi in p]  # mean loss -> 1/N
    H_out = torch.block_diag(*blocks)
    G = J.T @ H_out @ J
    for chunks in ([(x, y)], chunked(x, y, 3)):
        for keep in (4, 0):
            op = curvature_operator(model, F.cross_entropy, chunks, curvature="ggn", keep_graphs=keep, method=method)
            torch.testing.assert_close(_dense(op), G, rtol=1e-8, atol=1e-10)
    # PSD, unlike the Hessian at a random point
    assert torch.linalg.eigvalsh(G).min() > -1e-10


@pytest.mark.parametrize("method", ["double_backward", "func"])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_ggn_with_bn_matches_explicit_jt_h_j(mode, method):
    """With BatchNorm the GGN is J^T H_out J of the network in the asked mode (train: batch statistics couple the
    examples, so J is the full (N*C, P) Jacobian), also when J v runs the module again at every matvec (forward
    mode), and the running buffers are left alone.

    Does not prove: BatchNorm2d, or float32 agreement (float64 MLP)."""
    model, x, y = _tiny(bn=True)
    refresh_bn_stats(model, [(x, y)])
    before = {n: b.clone() for n, b in model.named_buffers()}
    names = list(trainable(model))
    theta = flatten([p.detach().clone() for p in trainable(model).values()])
    shapes = [p.shape for p in trainable(model).values()]
    model.train(mode == "train")

    def out_of(flat):
        ps, i = {}, 0
        for n, s in zip(names, shapes):
            ps[n] = flat[i:i + s.numel()].view(s)
            i += s.numel()
        bufs = {n: b.clone() for n, b in model.named_buffers()}
        return torch.func.functional_call(model, {**ps, **bufs}, (x,))
    J = torch.autograd.functional.jacobian(out_of, theta).reshape(-1, theta.numel())
    p = torch.softmax(out_of(theta), dim=1)
    G = J.T @ torch.block_diag(*[(torch.diag(pi) - torch.outer(pi, pi)) / len(x) for pi in p]) @ J
    model.eval()  # the operator must set the mode itself
    op = curvature_operator(model, F.cross_entropy, [(x, y)], curvature="ggn", bn=mode, method=method)
    torch.testing.assert_close(_dense(op), G, rtol=1e-8, atol=1e-10)
    assert not model.training and op.info()["hvp_method"] == method
    for n, b in model.named_buffers():
        assert torch.equal(b, before[n]), n


def test_refresh_bn_stats_weights_batches_by_size():
    """An unequal last batch counts by its examples: the running mean is the mean over every example, the running
    variance the size-weighted mean of the batches' unbiased variances (PyTorch's momentum=None would weight the
    3-example batch like the 9-example one and miss both by ~0.3 here).

    Does not prove: the statistics of BatchNorm2d (same module code, per-channel over N*H*W)."""
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(2, momentum=0.1)
    x = torch.randn(12, 2, dtype=torch.float64)
    x[9:] += 2.0  # the last batch differs, so the weighting shows
    bn = bn.double().eval()
    chunks = [(x[:9], None), (x[9:], None)]
    refresh_bn_stats(bn, chunks)
    torch.testing.assert_close(bn.running_mean, x.mean(0))
    var = (9 * x[:9].var(0) + 3 * x[9:].var(0)) / 12
    torch.testing.assert_close(bn.running_var, var)
    assert bn.momentum == 0.1 and not bn.training


@with_cuda
def test_operator_records_which_bn_statistics_it_used(device):
    """``info()["bn_stats"]``: "refreshed" right after refresh_bn_stats and still after eval-mode matvecs of every
    method; "not refreshed" once a training-mode forward or load_state_dict has written the running statistics;
    "batch" in train mode; "none" without BatchNorm.
    Does not prove: that the refresh used representative data (it records only that one happened)."""
    model, x, y = _tiny(bn=True)
    model, x, y = model.to(device), x.to(device), y.to(device)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert bn_stats(model, "eval") == "not refreshed"
    refresh_bn_stats(model, [(x, y)])
    for method in ("double_backward", "func"):
        for curvature in ("hessian", "ggn"):
            op = curvature_operator(model, F.cross_entropy, [(x, y)], curvature=curvature, bn="eval", method=method)
            op(torch.ones(op.dim, dtype=torch.float64, device=device))
            assert op.info()["bn_stats"] == "refreshed", (method, curvature)
    assert curvature_operator(model, F.cross_entropy, [(x, y)], bn="train").info()["bn_stats"] == "batch"
    assert bn_stats(model, "eval") == "refreshed"  # a train-mode operator leaves the running statistics alone
    model.load_state_dict(state)
    assert bn_stats(model, "eval") == "not refreshed"
    refresh_bn_stats(model, [(x, y)])
    model.train()(x)  # a training step's forward updates the running statistics
    assert bn_stats(model.eval(), "eval") == "not refreshed"
    plain, _, _ = _tiny(bn=False)
    assert curvature_operator(plain, F.cross_entropy, [(x.cpu(), y.cpu())]).info()["bn_stats"] == "none"


def test_bad_arguments_raise():
    """Unknown modes fail loudly. Does not prove: anything numeric."""
    model, x, y = _tiny()
    with pytest.raises(ValueError, match="bn_mode"):
        curvature_operator(model, F.cross_entropy, [(x, y)], bn="inference")
    with pytest.raises(ValueError, match="curvature"):
        curvature_operator(model, F.cross_entropy, [(x, y)], curvature="fisher")
