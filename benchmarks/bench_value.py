"""calcbook.Value against micrograd's Value on micrograd's "moons" demo, one training step each.

The model is micrograd's demo: a 2-16-16-1 MLP (ReLU hidden layers, linear output), 100 points,
full batch, SVM max-margin hinge loss + 1e-4 L2, SGD with lr = 1.0 - 0.9 k / 100. The MLP for
calcbook is written below on top of `calcbook.Value`; micrograd uses its own `micrograd.nn`.
Both start from the same weights; every parameter gradient is compared before timing.

Timing: contestants alternate in blocks (A, B, A, B, ...). Before every block the cyclic
garbage collector is run untimed, so neither contestant pays for the other's garbage; inside a
block the collector is in the state under test (enabled = Python's default, or disabled), one
untimed step brings the heap to the state it has in a training loop, and the timed steps that
follow pay for whatever collections they trigger. The headline is the median over rounds of
the per-round ratio of mean step times.

Run from the repository root with the benchmark venv (micrograd is not a calcbook dependency):

    .venv-bench/bin/python benchmarks/bench_value.py          # writes benchmarks/results/value.json
    .venv-bench/bin/python benchmarks/bench_value.py --quick  # fewer rounds; prints only
"""

import common  # noqa: I001  (first: pins BLAS threads before NumPy loads)

import argparse
import gc
import importlib.metadata as metadata
import json
import os
import random
import statistics
import time
from pathlib import Path

import micrograd.engine
import micrograd.nn
import numpy as np

from calcbook import Value


def make_moons(n_samples=100, noise=0.1, seed=1337):
    """Two interleaving half circles, labels in {-1, +1} (what sklearn's make_moons draws)."""
    rng = np.random.default_rng(seed)
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    t_outer = np.linspace(0.0, np.pi, n_outer)
    t_inner = np.linspace(0.0, np.pi, n_inner)
    x = np.concatenate([np.cos(t_outer), 1.0 - np.cos(t_inner)])
    y = np.concatenate([np.sin(t_outer), 0.5 - np.sin(t_inner)])
    points = np.stack([x, y], axis=1) + noise * rng.standard_normal((n_samples, 2))
    labels = np.concatenate([-np.ones(n_outer), np.ones(n_inner)])
    return points.tolist(), labels.tolist()  # plain floats for both engines


class Neuron:
    def __init__(self, weights, bias, relu):
        self.w, self.b, self.relu = [Value(w) for w in weights], Value(bias), relu

    def __call__(self, x):
        act = sum((wi * xi for wi, xi in zip(self.w, x, strict=True)), self.b)
        return act.relu() if self.relu else act

    def parameters(self):
        return self.w + [self.b]


class Layer:
    def __init__(self, neurons):
        self.neurons = neurons

    def __call__(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]


class MLP:
    """The same network as `micrograd.nn.MLP`, with the weights copied from one."""

    def __init__(self, like):
        self.layers = [
            Layer([Neuron([w.data for w in n.w], n.b.data, n.nonlin) for n in layer.neurons])
            for layer in like.layers
        ]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]


def loss_and_grads(model, params, value_cls, points, labels):
    """micrograd's demo loss (hinge + 1e-4 L2, full batch), backpropagated."""
    inputs = [[value_cls(a), value_cls(b)] for a, b in points]
    scores = [model(x) for x in inputs]
    losses = [(1 + -yi * si).relu() for yi, si in zip(labels, scores, strict=True)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = 1e-4 * sum(p * p for p in params)
    total = data_loss + reg_loss
    for p in params:
        p.grad = 0.0
    total.backward()
    return total.data


def train_step(model, params, value_cls, points, labels, k):
    loss = loss_and_grads(model, params, value_cls, points, labels)
    learning_rate = 1.0 - 0.9 * k / 100
    for p in params:
        p.data -= learning_rate * p.grad
    return loss


def check_same_gradients(mg_model, cb_model, points, labels):
    mg_params, cb_params = mg_model.parameters(), cb_model.parameters()
    assert [p.data for p in mg_params] == [p.data for p in cb_params], "different start"
    mg_loss = loss_and_grads(mg_model, mg_params, micrograd.engine.Value, points, labels)
    cb_loss = loss_and_grads(cb_model, cb_params, Value, points, labels)
    diff = max(abs(p.grad - q.grad) for p, q in zip(mg_params, cb_params, strict=True))
    scale = max(abs(p.grad) for p in mg_params)
    assert diff <= 1e-12 * max(1.0, scale), f"gradients differ by {diff}"
    assert abs(mg_loss - cb_loss) <= 1e-12, (mg_loss, cb_loss)
    return {"max_abs_grad_diff": diff, "max_abs_grad": scale, "loss": cb_loss}


def run_block(model, params, value_cls, points, labels, k0, steps, gc_enabled):
    """`steps` timed training steps after one untimed one, from a freshly collected heap.

    The untimed step brings the heap to its steady state in a training loop (with the
    collector on, an engine whose graphs hold cycles still carries the last step's garbage).
    """
    gc.collect()  # untimed: neither contestant pays for the other's garbage
    if not gc_enabled:
        gc.disable()
    times = []
    try:
        train_step(model, params, value_cls, points, labels, k0)
        for k in range(k0 + 1, k0 + 1 + steps):
            t0 = time.perf_counter()
            train_step(model, params, value_cls, points, labels, k)
            times.append(time.perf_counter() - t0)
    finally:
        gc.enable()
    return times


def compare(mg_model, cb_model, points, labels, rounds, steps, gc_enabled):
    """Interleaved blocks; returns per-step times (ms) and the per-round ratios."""
    contestants = {
        "micrograd": (mg_model, mg_model.parameters(), micrograd.engine.Value),
        "calcbook": (cb_model, cb_model.parameters(), Value),
    }
    times = {name: [] for name in contestants}
    ratios = []
    k = 0
    for _ in range(rounds):
        block_means = {}
        for name, (model, params, cls) in contestants.items():
            block = run_block(model, params, cls, points, labels, k, steps, gc_enabled)
            times[name] += [1e3 * t for t in block]
            block_means[name] = statistics.fmean(block)
        ratios.append(block_means["micrograd"] / block_means["calcbook"])
        k += steps + 1
    summary = {
        name: {
            "ms_per_step_mean": statistics.fmean(ts),
            "ms_per_step_median": statistics.median(ts),
            "ms_per_step_min": min(ts),
            "steps_timed": len(ts),
        }
        for name, ts in times.items()
    }
    summary["ratio_micrograd_over_calcbook_median"] = statistics.median(ratios)
    summary["ratio_per_round"] = ratios
    return summary


def fresh_models():
    random.seed(1337)  # micrograd.nn draws its initial weights from `random`
    mg_model = micrograd.nn.MLP(2, [16, 16, 1])
    cb_model = MLP(mg_model)
    return mg_model, cb_model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds; print, don't save")
    parser.add_argument("--out", default="benchmarks/results/value.json")
    args = parser.parse_args()
    points, labels = make_moons()

    mg_model, cb_model = fresh_models()
    check = check_same_gradients(mg_model, cb_model, points, labels)
    print(
        f"gradients agree: max |diff| = {check['max_abs_grad_diff']:.3g} (loss {check['loss']:.6f})"
    )

    # Warm up both (imports, allocator), then fresh identical models for the timed runs.
    for cls, model in ((micrograd.engine.Value, mg_model), (Value, cb_model)):
        run_block(model, model.parameters(), cls, points, labels, 0, 2, gc_enabled=False)

    results = {}
    plan = {
        "gc_off": (False, 3 if args.quick else 10, 3),
        "gc_on": (True, 2 if args.quick else 12, 3),  # (its per-round ratio varies most)
    }
    load_before = os.getloadavg()
    for label, (gc_enabled, rounds, steps) in plan.items():
        mg_model, cb_model = fresh_models()
        res = compare(mg_model, cb_model, points, labels, rounds, steps, gc_enabled)
        drift = max(
            abs(p.data - q.data)
            for p, q in zip(mg_model.parameters(), cb_model.parameters(), strict=True)
        )
        res["max_abs_param_diff_after_training"] = drift
        res["rounds"], res["steps_per_block"] = rounds, steps
        results[label] = res
        print(
            f"{label}: micrograd {res['micrograd']['ms_per_step_mean']:.1f} ms/step, "
            f"calcbook {res['calcbook']['ms_per_step_mean']:.1f} ms/step, "
            f"ratio (median of rounds) {res['ratio_micrograd_over_calcbook_median']:.1f}x, "
            f"param drift after {rounds * (steps + 1)} steps {drift:.2g}"
        )
    on, off = results["gc_on"], results["gc_off"]
    results["cross"] = {
        "micrograd_gc_off_over_calcbook_gc_on": off["micrograd"]["ms_per_step_mean"]
        / on["calcbook"]["ms_per_step_mean"],
        "note": "means from different blocks of this run, not interleaved rounds; context only",
    }
    prov = common.provenance()
    prov["gc"] = "see method"
    record = {
        "benchmark": "micrograd moons demo training step (2-16-16-1 MLP, 100 points, full batch)",
        "date": prov["date"],
        "command": prov["command"],
        "python": prov["python"],
        "numpy": np.__version__,
        "micrograd": metadata.version("micrograd"),
        "cpu": prov["cpu"],
        "load_average_before_after": [load_before, os.getloadavg()],
        "gradient_check": check,
        "results": results,
        "method": "interleaved blocks, each: gc.collect() and one training step untimed, then "
        "steps_per_block timed steps with the collector enabled (default) or disabled; ratio = "
        "median over rounds of mean(micrograd step) / mean(calcbook step) in that round",
        "provenance": prov,
    }
    if args.quick:
        print(json.dumps(record, indent=2))
    else:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
