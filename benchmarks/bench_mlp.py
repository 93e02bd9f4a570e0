"""MLP training step, cheap-gradient ratio and tape memory: calcbook against its limit and peers.

The network is a tanh MLP with a mean softmax cross-entropy loss on one-hot targets:
`logits = tanh(x @ W1 + b1) @ W2 + b2` (tiny: batch 32, 784-128-10; medium: batch 256,
784-512-512-10 with two tanh layers), loss `-mean(sum(onehot * log_softmax(logits)))`. One step is
forward + backward + SGD with learning rate 0.1, updating the parameters in place.

Contestants, all timed in this one process, interleaved round by round:

- `hand-written NumPy`: the limit. The same matrix products, no tape, the gradient derived by hand
  (`softmax - onehot`, then back through each layer);
- `NumPy GEMMs only`: just the matrix products of that step, the BLAS floor (context);
- `calcbook`: `cb.value_and_grad(loss, argnums=...)` on the loss written with plain NumPy;
- `calcbook, cb.cross_entropy`: the same network with the loss `cb.cross_entropy(logits, onehot)`,
  one fused function whose rule is `(softmax - onehot) / batch`, as in the hand-written code;
- `HIPS autograd`: the same loss with `autograd.numpy`;
- `PyTorch`: CPU tensors with `requires_grad`, `loss.backward()`, SGD under `torch.no_grad()`;
- `PyTorch, F.cross_entropy`: the same with PyTorch's own fused loss,
  `torch.nn.functional.cross_entropy(logits, onehot)`;
- `minimal MLP tape` (context, tiny and medium steps only): `minimal_tape.py`, a tape that knows
  only this network's four operations and checks nothing, the floor of recording a tape on NumPy
  code.

Every contestant's gradient is checked against the hand-written one before it is timed
(relative to each gradient's largest entry: 1e-5 in float32, 1e-10 in float64).

Sections written to `benchmarks/results/autodiff.json`: `mlp`, `cheap_gradient`, `memory`,
`per_op_overhead` (microseconds per operation on a 4x4 array: what dominates the tiny sizes) and
`tiny_phases` (the tiny step of calcbook with `cb.cross_entropy` and of the minimal tape, timed
phase by phase with the clock read inside the loss function, amid hand-written steps).

    .venv-bench/bin/python benchmarks/bench_mlp.py            # full run, writes the JSON
    .venv-bench/bin/python benchmarks/bench_mlp.py --quick    # a few rounds, prints only
"""

import common  # noqa: I001  (first: pins the BLAS / OpenMP threads before NumPy loads)

# isort: split
import argparse
import gc
import time
import tracemalloc

import autograd
import autograd.numpy as anp
import minimal_tape
import numpy as np
from autograd.scipy.special import logsumexp as ag_logsumexp

import calcbook as cb

torch = common.pin_torch_threads()

LR = 0.1
# name: (batch, layer sizes, rounds, calls per contestant per round). Short rounds and many of
# them: on a shared machine a round that was preempted is an outlier the median discards. (At the
# medium size the middle half of the per-round ratios spans about 0.85-1.2 here; with 30 rounds
# the median moved by 5% from run to run, hence 60.)
CONFIGS = {
    "tiny": (32, (784, 128, 10), 300, 3),
    "medium": (256, (784, 512, 512, 10), 60, 1),
}
RTOL = {"float32": 1e-5, "float64": 1e-10}
HAVE_CALCBOOK = hasattr(cb, "value_and_grad")
CYCLES = "objects_freed_only_by_cycle_collector"


# --- the problem ------------------------------------------------------------------------------
def init_params(sizes, dtype, seed=0):
    """Weights ~ N(0, 1/fan_in), small random biases: [W1, b1, W2, b2, ...]."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        params.append((rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(dtype))
        params.append((0.1 * rng.standard_normal(fan_out)).astype(dtype))
    return params


def make_batch(batch, sizes, dtype, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    onehot = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], batch)]
    return x, onehot


def mlp_logits(params, x, tanh):
    """The logits `tanh(x @ W1 + b1) @ W2 + b2` (more hidden layers alike), with `tanh` given."""
    h = x
    for i in range(0, len(params) - 2, 2):
        h = tanh(h @ params[i] + params[i + 1])
    return h @ params[-2] + params[-1]


# --- hand-written NumPy: the limit ------------------------------------------------------------
def hand_loss(params, x, onehot):
    """The forward pass alone."""
    logits = mlp_logits(params, x, np.tanh)
    shifted = logits - logits.max(axis=1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=1))
    return np.mean(lse - np.sum(onehot * shifted, axis=1))


def hand_value_and_grad(params, x, onehot):
    """Forward pass keeping the activations, then the gradient derived by hand."""
    hs = [x]
    for i in range(0, len(params) - 2, 2):
        hs.append(np.tanh(hs[-1] @ params[i] + params[i + 1]))
    logits = hs[-1] @ params[-2] + params[-1]
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    s = e.sum(axis=1, keepdims=True)
    loss = np.mean(np.log(s[:, 0]) - np.sum(onehot * shifted, axis=1))
    d = (e / s - onehot) / x.shape[0]  # d loss / d logits = (softmax - onehot) / batch
    grads = [None] * len(params)
    for layer in range(len(params) // 2 - 1, -1, -1):
        grads[2 * layer] = hs[layer].T @ d
        grads[2 * layer + 1] = d.sum(axis=0)
        if layer > 0:  # no gradient for the input x
            d = (d @ params[2 * layer].T) * (1 - hs[layer] ** 2)
    return loss, grads


def gemms_only(params, x, onehot):
    """Only the matrix products of one step (forward and backward): the BLAS floor."""
    hs = [x]
    for i in range(0, len(params) - 2, 2):
        hs.append(hs[-1] @ params[i])
    d = hs[-1] @ params[-2]
    for layer in range(len(params) // 2 - 1, -1, -1):
        hs[layer].T @ d
        if layer > 0:
            d = d @ params[2 * layer].T


# --- the same loss for the autodiff contestants ----------------------------------------------
def numpy_loss(*args):
    """The loss in plain NumPy, as a calcbook user writes it: `cb.value_and_grad` traces it."""
    *params, x, onehot = args
    logits = mlp_logits(params, x, np.tanh)
    return -np.mean(np.sum(onehot * cb.log_softmax(logits, axis=1), axis=1))


def numpy_loss_fused(*args):
    """The same network with calcbook's fused loss `cb.cross_entropy` (one tape entry)."""
    *params, x, onehot = args
    return cb.cross_entropy(mlp_logits(params, x, np.tanh), onehot)


def autograd_loss(params, x, onehot):
    logits = mlp_logits(params, x, anp.tanh)
    logp = logits - ag_logsumexp(logits, axis=1, keepdims=True)
    return -anp.mean(anp.sum(onehot * logp, axis=1))


def torch_loss(params, x, onehot):
    logits = mlp_logits(params, x, torch.tanh)
    return -torch.mean(torch.sum(onehot * torch.log_softmax(logits, dim=1), dim=1))


def torch_loss_fused(params, x, onehot):
    return torch.nn.functional.cross_entropy(mlp_logits(params, x, torch.tanh), onehot)


# --- one training step per contestant (each owns its parameters) -----------------------------
def hand_step(params, x, onehot):
    loss, grads = hand_value_and_grad(params, x, onehot)
    for p, g in zip(params, grads, strict=True):
        p -= LR * g
    return loss


def calcbook_value_and_grad(n_params, loss=numpy_loss):
    return cb.value_and_grad(loss, argnums=tuple(range(n_params)))


def make_calcbook_step(params, x, onehot, loss=numpy_loss):
    vag = calcbook_value_and_grad(len(params), loss)

    def step():
        loss, grads = vag(*params, x, onehot)
        for p, g in zip(params, grads, strict=True):
            p -= LR * g
        return loss

    return step


autograd_value_and_grad = autograd.value_and_grad(autograd_loss)


def autograd_step(params, x, onehot):
    loss, grads = autograd_value_and_grad(params, x, onehot)
    for p, g in zip(params, grads, strict=True):
        p -= LR * g
    return loss


def torch_tensors(params, x, onehot):
    tp = [torch.tensor(p, requires_grad=True) for p in params]
    return tp, torch.tensor(x), torch.tensor(onehot)


def torch_value_and_grad(tp, tx, ty, loss=torch_loss):
    loss = loss(tp, tx, ty)
    loss.backward()
    return loss, [p.grad for p in tp]


def torch_step(tp, tx, ty, loss=torch_loss):
    loss, _ = torch_value_and_grad(tp, tx, ty, loss)
    with torch.no_grad():
        for p in tp:
            p -= LR * p.grad
            p.grad = None
    return loss


def minimal_loss(boxes, x, onehot):
    return minimal_tape.cross_entropy(mlp_logits(boxes, x, np.tanh), onehot)


def minimal_step(params, x, onehot):
    loss, grads = minimal_tape.value_and_grad(minimal_loss, params, x, onehot)
    for p, g in zip(params, grads, strict=True):
        p -= LR * g
    return loss


# --- checks -----------------------------------------------------------------------------------
def check_gradients(params, x, onehot, dtype):
    """Every contestant's loss and gradient against the hand-written ones, at the same point."""
    rtol = RTOL[dtype]
    loss, want = hand_value_and_grad(params, x, onehot)
    errors = {}
    if HAVE_CALCBOOK:
        cl, cg = calcbook_value_and_grad(len(params))(*params, x, onehot)
        errors["calcbook"] = common.check_close("calcbook", [cl, *cg], [loss, *want], rtol)
        cl, cg = calcbook_value_and_grad(len(params), numpy_loss_fused)(*params, x, onehot)
        errors["calcbook, cb.cross_entropy"] = common.check_close(
            "calcbook, cb.cross_entropy", [cl, *cg], [loss, *want], rtol
        )
    al, agr = autograd_value_and_grad(params, x, onehot)
    errors["HIPS autograd"] = common.check_close("autograd", [al, *agr], [loss, *want], rtol)
    tp, tx, ty = torch_tensors(params, x, onehot)
    tl, tg = torch_value_and_grad(tp, tx, ty)
    got = [tl.detach().numpy(), *(g.numpy() for g in tg)]
    errors["PyTorch"] = common.check_close("torch", got, [loss, *want], rtol)
    tp, tx, ty = torch_tensors(params, x, onehot)
    tl, tg = torch_value_and_grad(tp, tx, ty, torch_loss_fused)
    got = [tl.detach().numpy(), *(g.numpy() for g in tg)]
    errors["PyTorch, F.cross_entropy"] = common.check_close("torch fused", got, [loss, *want], rtol)
    ml, mg = minimal_tape.value_and_grad(minimal_loss, params, x, onehot)
    errors["minimal MLP tape"] = common.check_close("minimal tape", [ml, *mg], [loss, *want], rtol)
    assert abs(hand_loss(params, x, onehot) - loss) <= rtol * abs(loss)
    return errors


def _setting(batch, sizes, dtype, rounds, inner):
    """What a section's results were measured on, for its JSON record."""
    return {
        "batch": batch,
        "sizes": list(sizes),
        "dtype": dtype,
        "rounds": rounds,
        "calls_per_round": inner,
    }


def fresh(sizes, batch, dtype):
    params = init_params(sizes, dtype)
    x, onehot = make_batch(batch, sizes, dtype)
    return params, x, onehot


# --- 1. the training step ---------------------------------------------------------------------
def bench_step(config, dtype, quick):
    batch, sizes, rounds, inner = CONFIGS[config]
    rounds = 5 if quick else rounds
    params, x, onehot = fresh(sizes, batch, dtype)
    errors = check_gradients(params, x, onehot, dtype)

    hp = [p.copy() for p in params]
    contestants = {
        "hand-written NumPy": lambda: hand_step(hp, x, onehot),
        "NumPy GEMMs only": lambda: gemms_only(params, x, onehot),
    }
    if HAVE_CALCBOOK:
        contestants["calcbook"] = make_calcbook_step([p.copy() for p in params], x, onehot)
        contestants["calcbook, cb.cross_entropy"] = make_calcbook_step(
            [p.copy() for p in params], x, onehot, numpy_loss_fused
        )
    ap = [p.copy() for p in params]
    contestants["HIPS autograd"] = lambda: autograd_step(ap, x, onehot)
    tp, tx, ty = torch_tensors(params, x, onehot)
    contestants["PyTorch"] = lambda: torch_step(tp, tx, ty)
    tpf, _, _ = torch_tensors(params, x, onehot)
    contestants["PyTorch, F.cross_entropy"] = lambda: torch_step(tpf, tx, ty, torch_loss_fused)
    mp = [p.copy() for p in params]
    contestants["minimal MLP tape"] = lambda: minimal_step(mp, x, onehot)

    times = common.interleave(contestants, rounds=rounds, inner=inner)
    pairs = {f"{n} / hand": (n, "hand-written NumPy") for n in contestants}
    summary = common.summarize(times, pairs)
    return {
        **_setting(batch, sizes, dtype, rounds, inner),
        "gradient_check_max_error": errors,
        "ms_per_step": {n: summary[n]["ms_median"] for n in contestants},
        "ratio_to_hand": {n: summary[f"{n} / hand"]["ratio_median"] for n in contestants},
        "ratio_to_hand_iqr": {
            n: [summary[f"{n} / hand"]["ratio_q1"], summary[f"{n} / hand"]["ratio_q3"]]
            for n in contestants
        },
    }


# --- 2. cheap-gradient ratio ------------------------------------------------------------------
def bench_cheap_gradient(config, dtype, quick):
    """time(value_and_grad(f)) / time(f), each against its own f, same process, interleaved."""
    batch, sizes, rounds, inner = CONFIGS[config]
    rounds = 5 if quick else max(2 * rounds // 3, 30)
    params, x, onehot = fresh(sizes, batch, dtype)
    tp, tx, ty = torch_tensors(params, x, onehot)
    tconst = [p.detach() for p in tp]

    def torch_f():
        with torch.no_grad():
            return torch_loss(tconst, tx, ty)

    def torch_vag(loss=torch_loss):
        loss, grads = torch_value_and_grad(tp, tx, ty, loss)
        for p in tp:
            p.grad = None
        return loss, grads

    def torch_f_fused():
        with torch.no_grad():
            return torch_loss_fused(tconst, tx, ty)

    contestants = {
        "hand-written f": lambda: hand_loss(params, x, onehot),
        "hand-written value_and_grad": lambda: hand_value_and_grad(params, x, onehot),
        "HIPS autograd f": lambda: autograd_loss(params, x, onehot),
        "HIPS autograd value_and_grad": lambda: autograd_value_and_grad(params, x, onehot),
        "PyTorch f": torch_f,
        "PyTorch value_and_grad": torch_vag,
        "PyTorch, F.cross_entropy f": torch_f_fused,
        "PyTorch, F.cross_entropy value_and_grad": lambda: torch_vag(torch_loss_fused),
    }
    pairs = {
        "hand-written NumPy": ("hand-written value_and_grad", "hand-written f"),
        "HIPS autograd": ("HIPS autograd value_and_grad", "HIPS autograd f"),
        "PyTorch": ("PyTorch value_and_grad", "PyTorch f"),
        "PyTorch, F.cross_entropy": (
            "PyTorch, F.cross_entropy value_and_grad",
            "PyTorch, F.cross_entropy f",
        ),
    }
    if HAVE_CALCBOOK:
        vag = calcbook_value_and_grad(len(params))
        contestants["calcbook f"] = lambda: numpy_loss(*params, x, onehot)
        contestants["calcbook value_and_grad"] = lambda: vag(*params, x, onehot)
        pairs["calcbook"] = ("calcbook value_and_grad", "calcbook f")
        vagf = calcbook_value_and_grad(len(params), numpy_loss_fused)
        contestants["calcbook, cb.cross_entropy f"] = lambda: numpy_loss_fused(*params, x, onehot)
        contestants["calcbook, cb.cross_entropy value_and_grad"] = lambda: vagf(*params, x, onehot)
        pairs["calcbook, cb.cross_entropy"] = (
            "calcbook, cb.cross_entropy value_and_grad",
            "calcbook, cb.cross_entropy f",
        )
    times = common.interleave(contestants, rounds=rounds, inner=inner)
    summary = common.summarize(times, pairs)
    return {
        **_setting(batch, sizes, dtype, rounds, inner),
        "ms": {n: summary[n]["ms_median"] for n in contestants},
        "ratio_value_and_grad_over_f": {p: summary[p]["ratio_median"] for p in pairs},
        "ratio_iqr": {p: [summary[p]["ratio_q1"], summary[p]["ratio_q3"]] for p in pairs},
    }


# --- per-operation overhead -------------------------------------------------------------------
CHAIN = 200  # operations in the chain


def bench_per_op(quick):
    """Microseconds per elementwise operation on a 4x4 array: what dominates tiny problems."""

    def chain(x):
        for _ in range(CHAIN):
            x = np.sin(x)
        return np.sum(x)

    def chain_autograd(x):
        for _ in range(CHAIN):
            x = anp.sin(x)
        return anp.sum(x)

    def chain_torch(x):
        for _ in range(CHAIN):
            x = torch.sin(x)
        return torch.sum(x)

    x = np.random.default_rng(0).standard_normal((4, 4))
    xt = torch.tensor(x, requires_grad=True)

    def torch_forward():
        with torch.no_grad():
            return chain_torch(xt)

    def torch_both():
        loss = chain_torch(xt)
        loss.backward()
        xt.grad = None
        return loss

    contestants = {
        "NumPy, forward": lambda: chain(x),
        "PyTorch, forward": torch_forward,
        "PyTorch, forward + backward": torch_both,
        "HIPS autograd, forward + backward": lambda: autograd.value_and_grad(chain_autograd)(x),
    }
    if HAVE_CALCBOOK:
        vag = cb.value_and_grad(chain)
        contestants["calcbook, forward + backward"] = lambda: vag(x)
    times = common.interleave(contestants, rounds=5 if quick else 40, inner=3)
    summary = common.summarize(times, {})
    return {
        "array_shape": [4, 4],
        "operation": "np.sin (and its derivative)",
        "chain_length": CHAIN,
        "us_per_op": {k: 1e3 * summary[k]["ms_median"] / CHAIN for k in contestants},
    }


# --- 4. memory --------------------------------------------------------------------------------
def traced_memory(fn):
    """Peak and retained bytes (tracemalloc, which sees NumPy's buffers) of one call of `fn`."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    gc.disable()
    try:
        result = fn()
        current, peak = tracemalloc.get_traced_memory()
        cycles = gc.collect()  # what only a cycle collection frees: 0 if refcounting frees the tape
    finally:
        gc.enable()
        tracemalloc.stop()
    return result, {"peak": peak - base, "retained": current - base, "cyclic_garbage": cycles}


def bench_memory(dtype="float64"):
    batch, sizes, _, _ = CONFIGS["medium"]
    params, x, onehot = fresh(sizes, batch, dtype)
    mb = 1 / 2**20
    out = {
        "config": "medium",
        "dtype": dtype,
        "parameters_MB": sum(p.nbytes for p in params) * mb,
        "input_batch_MB": (x.nbytes + onehot.nbytes) * mb,
    }
    forward = numpy_loss if HAVE_CALCBOOK else (lambda *a: hand_loss(a[:-2], *a[-2:]))
    runs = {
        "forward only (plain NumPy)": lambda: forward(*params, x, onehot),
        "hand-written value_and_grad": lambda: hand_value_and_grad(params, x, onehot),
    }
    if HAVE_CALCBOOK:
        vag = calcbook_value_and_grad(len(params))
        vag(*params, x, onehot)  # warm: first-call imports and caches are not the tape
        runs["calcbook value_and_grad"] = lambda: vag(*params, x, onehot)
    for name, fn in runs.items():
        result, m = traced_memory(fn)
        grads = result[1] if isinstance(result, tuple) else []
        out[name] = {
            "peak_MB": m["peak"] * mb,
            "retained_MB": m["retained"] * mb,
            "returned_gradients_MB": sum(g.nbytes for g in grads) * mb,
            CYCLES: m["cyclic_garbage"],
        }
        del result, grads
    return out


# --- 5. where the time of a tiny step goes ---------------------------------------------------
PHASES = (
    "wrap the inputs",
    "forward: layers",
    "forward: loss",
    "backward pass, gradients returned",
    "SGD update",
)


def phased_loss(stamps, cross_entropy, packed=False):
    """The loss of `numpy_loss_fused`, appending the clock to `stamps` between its parts.

    With `packed`, it is called as `loss(params, x, onehot)` (as `minimal_tape` calls it).
    """

    def loss(*args):
        params, x, onehot = args if packed else (args[:-2], *args[-2:])
        stamps.append(time.perf_counter_ns())
        logits = mlp_logits(params, x, np.tanh)
        stamps.append(time.perf_counter_ns())
        out = cross_entropy(logits, onehot)
        stamps.append(time.perf_counter_ns())
        return out

    return loss


def calcbook_phased(stamps, n_params):
    vag = cb.value_and_grad(phased_loss(stamps, cb.cross_entropy), argnums=tuple(range(n_params)))
    return lambda params, x, onehot: vag(*params, x, onehot)


def minimal_phased(stamps, n_params):
    loss = phased_loss(stamps, minimal_tape.cross_entropy, packed=True)
    return lambda params, x, onehot: minimal_tape.value_and_grad(loss, params, x, onehot)


def make_phased_step(make_value_and_grad, params, x, onehot, phases):
    """A training step that appends the durations (ns) of its five `PHASES` to `phases`."""
    stamps = []
    value_and_grad = make_value_and_grad(stamps, len(params))

    def step():
        stamps.clear()
        t0 = time.perf_counter_ns()
        loss, grads = value_and_grad(params, x, onehot)
        t4 = time.perf_counter_ns()
        for p, g in zip(params, grads, strict=True):
            p -= LR * g
        t5 = time.perf_counter_ns()
        t1, t2, t3 = stamps
        phases.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4))
        return loss

    return step


def bench_phases(dtype, quick):
    """Per phase of the tiny step: calcbook with `cb.cross_entropy` against the minimal tape.

    Both run the same network and the same NumPy operations, timed between hand-written steps in
    shuffled rounds, in the cache state of the training-step benchmark; the difference, phase by
    phase, is what calcbook's generality costs at this size.
    """
    batch, sizes, rounds, inner = CONFIGS["tiny"]
    rounds = 5 if quick else rounds
    params, x, onehot = fresh(sizes, batch, dtype)
    hp = [p.copy() for p in params]
    phases = {"calcbook, cb.cross_entropy": [], "minimal MLP tape": []}
    contestants = {"hand-written NumPy": lambda: hand_step(hp, x, onehot)}
    for name, make in zip(phases, (calcbook_phased, minimal_phased), strict=True):
        own = [p.copy() for p in params]
        contestants[name] = make_phased_step(make, own, x, onehot, phases[name])
    warmup = 3
    times = common.interleave(contestants, rounds=rounds, inner=inner, warmup=warmup)
    us = {
        name: dict(zip(PHASES, 1e-3 * np.median(np.array(rows[warmup:]), axis=0), strict=True))
        for name, rows in phases.items()
    }
    hand = common.summarize(times, {})["hand-written NumPy"]["ms_median"]
    return {
        **_setting(batch, sizes, dtype, rounds, inner),
        "us_median_per_phase": us,
        "hand_written_step_us_median": 1e3 * hand,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few rounds; print, don't save")
    args = parser.parse_args()
    if not HAVE_CALCBOOK:
        print("calcbook.value_and_grad is not available yet: calcbook is left out of this run")

    mlp, cheap = {}, {}
    rows = []
    for config in CONFIGS:
        for dtype in ("float64", "float32"):
            key = f"{config} {dtype}"
            mlp[key] = r = bench_step(config, dtype, args.quick)
            for name, ms in r["ms_per_step"].items():
                rows.append([key, name, ms, r["ratio_to_hand"][name]])
    print("\nMLP training step (forward + backward + SGD), 1 thread")
    common.print_table(["config", "contestant", "ms/step", "ratio to hand"], rows)

    rows = []
    for config in CONFIGS:
        for dtype in ("float64", "float32"):
            key = f"{config} {dtype}"
            cheap[key] = r = bench_cheap_gradient(config, dtype, args.quick)
            for name, ratio in r["ratio_value_and_grad_over_f"].items():
                rows.append([key, name, ratio])
    print("\nCheap-gradient ratio time(value_and_grad(f)) / time(f)")
    common.print_table(["config", "contestant", "ratio"], rows)

    per_op = bench_per_op(args.quick)
    print("\nPer-operation cost, 4x4 array, chain of np.sin")
    common.print_table(["contestant", "us/op"], [[k, v] for k, v in per_op["us_per_op"].items()])

    memory = bench_memory()
    print("\nMemory of one medium float64 call (tracemalloc)")
    common.print_table(
        ["call", "peak MB", "retained MB", "gradients MB", "cyclic garbage"],
        [
            [k, v["peak_MB"], v["retained_MB"], v["returned_gradients_MB"], v[CYCLES]]
            for k, v in memory.items()
            if isinstance(v, dict)
        ],
    )

    phases = {dtype: bench_phases(dtype, args.quick) for dtype in ("float64", "float32")}
    print("\nTiny step, median microseconds per phase")
    names = list(phases["float64"]["us_median_per_phase"])
    common.print_table(
        ["phase", *(f"{n} {d}" for d in phases for n in names)],
        [
            [ph, *(phases[d]["us_median_per_phase"][n][ph] for d in phases for n in names)]
            for ph in PHASES
        ],
    )

    if args.quick:
        return
    prov = common.provenance()
    path = common.RESULTS / "autodiff.json"
    common.merge_results(path, "mlp", {"provenance": prov, "results": mlp})
    common.merge_results(path, "cheap_gradient", {"provenance": prov, "results": cheap})
    common.merge_results(path, "memory", {"provenance": prov, "results": memory})
    common.merge_results(path, "per_op_overhead", {"provenance": prov, "results": per_op})
    common.merge_results(path, "tiny_phases", {"provenance": prov, "results": phases})
    print(f"\nwrote sections mlp, cheap_gradient, memory, per_op_overhead, tiny_phases of {path}")


if __name__ == "__main__":
    main()
