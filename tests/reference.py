"""Plain, hand-written oracles: one episode, one neuron pair at a time, straight from the paper's equations.

Every fast path in ``plastic/`` must match these (values and, through autograd, gradients).
"""
from __future__ import annotations

import torch
from torch import Tensor


def miconi_step(x_prev: Tensor, hebb: Tensor, drive: Tensor, w: Tensor, alpha: Tensor, eta: Tensor, rule: str,
                coupling: str, input_scale: float) -> tuple[Tensor, Tensor]:
    """One episode (no batch). x_prev, drive: (N,); hebb, w: (N, N); alpha: (N, N) or (1,)."""
    n = x_prev.shape[0]
    alpha_full = alpha.expand(n, n)
    x = []
    for j in range(n):
        total = sum((w[i, j] + alpha_full[i, j] * hebb[i, j]) * x_prev[i] for i in range(n))
        if coupling == "additive":
            x.append(torch.tanh(total + input_scale * drive[j]))
        else:
            x.append(drive[j] if drive[j] != 0 else torch.tanh(total))
    x = torch.stack(x)
    rows = []
    for i in range(n):
        row = []
        for j in range(n):
            if rule == "hebb":
                row.append((1 - eta[0]) * hebb[i, j] + eta[0] * x_prev[i] * x[j])
            else:
                row.append(hebb[i, j] + eta[0] * x[j] * (x_prev[i] - x[j] * hebb[i, j]))
        rows.append(torch.stack(row))
    return x, torch.stack(rows)


def duan_reference(net, inputs: Tensor) -> Tensor:
    """Duan et al. (2023), one episode at a time and one step at a time, fast weights ``F`` kept directly.

    ``net`` is a ``plastic.duan.DuanNet`` (only its parameters and options are read). G comes from
    ``torch.autograd.grad`` of each episode's own internal loss (create_graph, as the reference code) or from
    explicit outer products (Hebbian); s, eta and lam straight from benchmarks/protocols.md (Duan 2023).
    inputs: (T, B, D) -> outputs (T, B, output_size).
    """
    batch = inputs.shape[1]
    episodes = [_duan_episode(net, inputs[:, b], batch) for b in range(batch)]
    return torch.stack(episodes, dim=1)


def _duan_layers(net) -> dict:
    return {"enc": net.enc, "hh": net.hh, "ih": net.ih, "out": net.out}


def _duan_forward(net, x: Tensor, h: Tensor, c: Tensor, fast: dict) -> tuple:
    layers = _duan_layers(net)

    def linear(name: str, v: Tensor) -> Tensor:
        w = layers[name].w + fast[name + ".w"] if name + ".w" in fast else layers[name].w
        b = layers[name].b + fast[name + ".b"] if name + ".b" in fast else layers[name].b
        return v @ w + b

    e = torch.relu(linear("enc", x))
    z = linear("hh", h) + linear("ih", e)
    if net.cell == "rnn":
        h_new = torch.relu(z)
        c_new, post = c, h_new
    else:
        n = net.hidden_size
        i, f, g, o_gate = (torch.sigmoid(z[:n]), torch.sigmoid(z[n:2 * n]), torch.tanh(z[2 * n:3 * n]),
                           torch.sigmoid(z[3 * n:]))
        c_new = f * c + i * g
        h_new = o_gate * torch.tanh(c_new)
        post = torch.cat([i, f, g, o_gate])
    return linear("out", h_new), h_new, c_new, {"x": x, "e": e, "h_prev": h, "h": h_new, "post": post}


def _duan_episode(net, inputs: Tensor, batch: int) -> Tensor:
    """inputs: (T, D) -> outputs (T, output_size)."""
    layers = _duan_layers(net)
    names = [f"{layer}.w" for layer in layers] if net.rule != "none" else []
    if net.rule == "gradient":
        names += [f"{layer}.b" for layer in layers]
    fast = {n: torch.zeros_like(getattr(layers[n[:-2]], n[-1]), requires_grad=True) for n in names}
    h = torch.zeros(net.hidden_size)
    c = torch.zeros(net.hidden_size if net.cell == "lstm" else 0)
    outputs = []
    for x in inputs:
        o, h, c, act = _duan_forward(net, x, h, c, fast)
        outputs.append(o[: net.output_size])
        if net.rule == "none":
            continue
        if net.rule == "hebbian":
            pairs = {"enc.w": ("x", "e"), "hh.w": ("h_prev", "post"), "ih.w": ("e", "post"), "out.w": ("h", None)}
            grads = {n: torch.outer(act[a], o if b is None else act[b]) for n, (a, b) in pairs.items()}
        else:
            loss = torch.mean((net.omega * o) ** 2)
            if net.loss_norm == "batch_mean":
                loss = loss / batch
            grads = dict(zip(names, torch.autograd.grad(loss, [fast[n] for n in names], create_graph=True)))
        norm = torch.sqrt(sum((g ** 2).sum() for g in grads.values()))
        s = torch.ones(()) if net.update_clip is None else torch.clamp(net.update_clip / norm, max=1.0)
        gain = 2 * torch.sigmoid(o[-1]) if net.modulation else torch.ones(())
        eta, lam = net.p_lr * gain, net.p_decay * gain
        for n in names:
            alpha = getattr(layers[n[:-2]], "alpha_" + n[-1])
            fast[n] = (1 - lam) * fast[n] + eta * s * alpha * grads[n]
    return torch.stack(outputs)


def plastic_output_step(x: Tensor, label: Tensor, hebb: Tensor, w: Tensor, alpha: Tensor, eta: Tensor, rule: str,
                        label_scale: float) -> tuple[Tensor, Tensor]:
    """Miconi's Omniglot output layer, one episode. x: (F,) features, label: (K,), hebb, w: (F, K)."""
    n_in, n_out = w.shape
    alpha_full = alpha.expand(n_in, n_out)
    pre = torch.stack([sum((w[i, j] + alpha_full[i, j] * hebb[i, j]) * x[i] for i in range(n_in))
                       + label_scale * label[j] for j in range(n_out)])
    y = torch.exp(pre - pre.max()) / torch.exp(pre - pre.max()).sum()
    rows = []
    for i in range(n_in):
        if rule == "hebb":
            rows.append(torch.stack([(1 - eta[0]) * hebb[i, j] + eta[0] * x[i] * y[j] for j in range(n_out)]))
        else:
            rows.append(torch.stack([hebb[i, j] + eta[0] * y[j] * (x[i] - y[j] * hebb[i, j]) for j in range(n_out)]))
    return y, torch.stack(rows)
