"""Fast whole-sequence forward of ``PlasticRecurrentNet``: the trace in chunks, never streamed step by step.

Why. The plain step (``PlasticRecurrentNet.step``) writes several fresh (B, N, N) tensors per time step
(``alpha * hebb``, the outer product, the decayed trace, their sum) and autograd keeps them all: for N = 1001,
~4 MB each and ~3 GB for one 106-step episode. On a CPU the step is bound by memory traffic on those buffers
(results/perf.md: the plain path runs at ~90-110% of the measured stream bandwidth), not by arithmetic, and its
backward adds an N x N outer product per step for ``w``, ``alpha`` and ``hebb``.

How. Both rules are linear in the trace with one decay per post-synaptic neuron::

    hebb(t+1) = hebb(t) * d_t[col] + eta * outer(p_t, q_t),     p_t = x(t-1), q_t = x(t)
    d_t = 1 - eta (decaying Hebb)    or    d_t = 1 - eta * q_t**2 (Oja)

so within a chunk of k steps that starts from the trace H0, the plastic drive of step t is::

    p_t @ (alpha * hebb(t)) = (p_t @ (alpha * H0)) * D_t  +  sum_{s<t} ((p_t * p_s) @ alpha) * V_t[s]
                              "term A": the trace so far     "term B": this chunk's outer products

with ``D_t = prod_{r<t} d_r`` and ``V_t[s] = eta * q_s * prod_{s<r<t} d_r`` kept as running products (never a
division: Oja's d can be 0 or negative). Term B is one (t*B x N) @ (N x N) product with ``alpha``, shared by
the batch; the trace is materialised once per chunk (``plastic.fast_ops.chunk_end``), so autograd keeps
O(T/k) traces instead of O(T) and the backward is memory-light without recomputation.

- Per-connection alpha: term A reads the materialised ``alpha * H0`` (B, N, N) each step. Reading it costs one
  pass over memory; rebuilding it from the chunk's outer products would cost t matrix products with ``alpha``,
  so chunks stay short (the net's ``chunk``, 16 by default: products with up to 16 rows cost about one read).
- Shared alpha: no ``alpha`` between the factors, so the trace stays factored for the whole episode,
  ``H0 = P_hist^T @ V_hist`` (B, N, N) from the (B, t, N) history of pre and decayed post factors, and term A is
  two thin batched products: no (B, N, N) tensor at all, unless the final state's trace is read.
- ``w``, ``alpha`` and ``alpha * H0`` enter every step through ``plastic.fast_ops.Deferred``, so their gradients
  are one matrix product each instead of one N x N outer product per step.

Where the time goes (results/perf.md, 1000-bit task, N = 1001, batch 1, idle machine): the one-row products
with ``w`` and ``alpha * H0`` and the chunk's products with ``alpha`` (forward and backward) take ~40% of the
self time; the rest is spread over the chunk ends' N x N passes (3-5% each) and many small per-step ops. Those
reads are needed by any exact backward; what autograd adds is the small ops and the separate passes, which only
a fused kernel (one pass over ``alpha * H0`` per step, forward and backward) would remove.

Same values and gradients as the plain path (tests/test_miconi_fast.py). First-order backward only.
"""
from __future__ import annotations

import torch
from torch import Tensor

from plastic.fast_ops import Deferred, chunk_end


@torch.compiler.disable  # its deferred-gradient autograd functions are not traceable: under compile=true it runs eager
def fast_forward(net, inputs: Tensor, x: Tensor, hebb: Tensor | None, chunk: int) -> tuple[Tensor, FastState]:
    """inputs: (T, B, input_size); x: (B, N); hebb: (B, N, N), or None for a zero trace (saves allocating
    and scanning one) -> (outputs (T, B, output_size), final state). The final trace is built only if read
    (``state.hebb``): a loss on the outputs alone never pays for the (B, N, N) tensor."""
    n_steps, batch = inputs.shape[:2]
    drives = net._drive(inputs.reshape(n_steps * batch, -1)).view(n_steps, batch, -1)  # (T, B, N)
    stepper = FastStepper(net, net._activate, x, hebb, chunk)
    xs = [stepper.step(drive) for drive in drives]
    return torch.stack(xs)[..., : net.output_size], FastState(stepper)


def _is_zero(hebb: Tensor) -> bool:
    """A zero initial trace that needs no gradient adds nothing: its products are skipped (hebb=None)."""
    return not hebb.requires_grad and not bool(hebb.any())


class FastStepper:
    """The fast path advanced one time step at a time, for sequences whose next input depends on the last
    output (an agent acting in an environment) as well as for whole sequences (``fast_forward``).

    ``net`` has ``w``, ``eta``, ``rule``, ``alpha_mode`` and, when plastic, ``alpha``; ``activate(recurrent,
    drive)`` gives the new activations. ``step(drive)`` returns x(t); ``hebb()`` the trace after the last step
    (materialised on demand; stepping may go on afterwards). A chunk is closed when the step after it arrives,
    so the last, possibly partial, chunk never computes ``alpha * trace``.
    """

    def __init__(self, net, activate, x: Tensor, hebb: Tensor | None, chunk: int) -> None:
        self.net, self.activate, self.x, self.chunk = net, activate, x, chunk
        self.batch = x.shape[0]
        self.plastic = net.alpha_mode != "none"
        self.free = net.alpha_mode == "free"
        hebb = None if hebb is None or _is_zero(hebb) else hebb
        self.trace = None if not self.plastic else \
            FreeTrace(net, hebb, self.batch) if self.free else SharedTrace(hebb, self.batch)
        self.t = chunk  # steps taken in the current chunk (a full "previous chunk" at the start)
        self.steps = 0  # steps taken in all
        self._final: tuple[int, Tensor] | None = None  # (steps, trace) of the last hebb() call
        self.pending = False  # whether a chunk's steps are not folded into the trace yet
        self.w_mm = self.alpha_mm = None
        self.pres: list[Tensor] = []
        self.decay = self.v = None  # decay: D_t, (B, N) or (1,); v: V_t, (t, B, N)

    def _begin_chunk(self) -> None:
        self._close(need_m=True)
        rows = [self.batch] * self.chunk
        self.w_mm = Deferred(self.net.w, rows)
        if self.plastic:
            self.trace.begin_chunk(self.chunk)
            self.alpha_mm = Deferred(self.net.alpha, [t * self.batch for t in range(1, self.chunk)]) \
                if self.free else None
        self.t, self.pres, self.decay, self.v = 0, [], None, None

    def _close(self, need_m: bool) -> None:
        """Fold the pending chunk's outer products into the trace (``alpha * trace`` too if ``need_m``)."""
        if self.pending and self.plastic:
            self.trace.end_chunk(torch.stack(self.pres), self.v, self.decay, need_m)
        self.pending = False

    def step(self, drive: Tensor) -> Tensor:
        """drive: (B, N) per-neuron input of this step -> x (B, N)."""
        if self.t == self.chunk:
            self._begin_chunk()
        x, net = self.x, self.net
        rec = self.w_mm(x)  # (B, N)
        if self.plastic:
            fast = self.trace.read(x, self.decay)  # (B, N) or None
            if self.pres:
                within = _term_b(x, self.pres, self.v, self.alpha_mm)  # (B, N)
                fast = within if fast is None else fast + within
            if fast is not None:
                rec = rec + (fast if self.free else net.alpha * fast)
        x_new = self.activate(rec, drive)
        if self.plastic:
            d = 1 - net.eta if net.rule == "hebbian" else 1 - net.eta * x_new ** 2  # (1,) or (B, N)
            post = (net.eta * x_new).unsqueeze(0)  # (1, B, N)
            self.decay = d if self.decay is None else self.decay * d
            self.v = post if self.v is None else torch.cat([self.v * d, post])
            self.pres.append(x)
            self.pending = True
        self.t += 1
        self.steps += 1
        self.x = x_new
        return x_new

    def hebb(self) -> Tensor:
        """The trace after the last step, (B, N, N); (B, 0, 0) for a non-plastic net."""
        if not self.plastic:
            return self.x.new_zeros(self.batch, 0, 0)
        if self._final is not None and self._final[0] == self.steps:
            return self._final[1]
        if self.pending:
            self._close(need_m=False)
            self.t = self.chunk  # the next step starts a chunk: the closed one's products are in the trace now
        self._final = (self.steps, self.trace.final(self.x))
        return self._final[1]


class FastState:
    """The recurrent state of a model stepping through ``FastStepper``: what ``step`` returns and takes back.

    It points into the running stepper, which advances in place, so each state can be stepped from once: a
    state that is no longer the newest raises instead of silently branching from the wrong point (branch with
    ``impl="plain"``). ``x`` and ``hebb`` read like a ``MiconiState``'s; the trace is materialised (once) when
    ``hebb`` is first read."""

    def __init__(self, stepper: FastStepper) -> None:
        self.stepper, self.steps = stepper, stepper.steps

    def current(self) -> FastStepper:
        if self.steps != self.stepper.steps:
            raise ValueError(f"this fast-path state is from step {self.steps} but its sequence is at step "
                             f"{self.stepper.steps}: a fast-path state can be stepped from once; use "
                             "impl=plain to branch from an earlier state")
        return self.stepper

    @property
    def x(self) -> Tensor:
        return self.current().x

    @property
    def hebb(self) -> Tensor:
        return self.current().hebb()

    def __iter__(self):  # unpacks like a MiconiState: x, hebb = state
        return iter((self.x, self.hebb))


def _term_b(x: Tensor, pres: list[Tensor], v: Tensor, alpha_mm: Deferred | None) -> Tensor:
    """sum_s ((x * p_s) @ alpha) * V[s] (per-connection alpha) or sum_s (x . p_s) V[s] (shared: alpha is applied
    by the caller). x: (B, N); pres: t tensors (B, N); v: (t, B, N) -> (B, N)."""
    both = torch.stack(pres) * x  # (t, B, N)
    if alpha_mm is None:
        return (both.sum(-1, keepdim=True) * v).sum(0)
    return (alpha_mm(both.view(-1, both.shape[-1])).view_as(both) * v).sum(0)


class FreeTrace:
    """Per-connection alpha: the trace materialised at chunk ends, with ``alpha * trace`` for term A."""

    def __init__(self, net, hebb: Tensor | None, batch: int) -> None:
        self.net, self.batch = net, batch
        self.hebb = hebb  # (B, N, N) or None (zero)
        self.m = None if self.hebb is None else net.alpha * hebb  # alpha * trace, what term A reads
        self.m_mm = None

    def begin_chunk(self, k: int) -> None:
        if self.m is None and self.hebb is not None:  # the trace was read out without alpha * trace
            self.m = self.net.alpha * self.hebb
        self.m_mm = Deferred(self.m, [self.batch] * k, batched=True) if self.m is not None else None

    def read(self, x: Tensor, decay: Tensor | None) -> Tensor | None:
        """Term A: (x @ (alpha * H0)) * D_t, (B, N); None while the trace is zero."""
        if self.m_mm is None:
            return None
        return self.m_mm(x) if decay is None else self.m_mm(x) * decay

    def end_chunk(self, pres: Tensor, v: Tensor, decay: Tensor, need_m: bool) -> None:
        """pres: (k, B, N); v: (k, B, N); decay: D_k. ``need_m``: also ``alpha * trace`` (not after the last)."""
        alpha = self.net.alpha if need_m else None
        self.hebb, self.m = chunk_end(self.hebb, alpha, decay, pres.permute(1, 2, 0), v.transpose(0, 1))

    def final(self, x: Tensor) -> Tensor:
        n = x.shape[-1]
        return self.hebb if self.hebb is not None else x.new_zeros(self.batch, n, n)


class SharedTrace:
    """Shared alpha: the trace as ``h_init * d_init + P_hist^T @ V_hist`` (h_init: a non-zero initial trace)."""

    def __init__(self, hebb: Tensor | None, batch: int) -> None:
        self.batch = batch
        self.h_init = hebb  # (B, N, N) or None (zero)
        self.d_init = None  # decay of h_init since the first step: (B, N) or (1,)
        self.p_hist = self.v_hist = None  # (B, t, N): pre factors, post factors decayed to the chunk start
        self.init_mm = self.p_mm = self.v_mm = None

    def begin_chunk(self, k: int) -> None:
        rows = [self.batch] * k
        if self.h_init is not None:
            self.init_mm = Deferred(self.h_init, rows, batched=True)
        if self.p_hist is not None:  # deferred too: the history's gradient is (B, t, N) per step otherwise
            self.p_mm = Deferred(self.p_hist.transpose(1, 2), rows, batched=True)
            self.v_mm = Deferred(self.v_hist, rows, batched=True)

    def read(self, x: Tensor, decay: Tensor | None) -> Tensor | None:
        """Term A: (x @ H0) * D_t, (B, N), H0 never materialised; None while the trace is zero."""
        fast = None
        if self.p_mm is not None:
            fast = self.v_mm(self.p_mm(x))  # (B, t) dot products with the history -> (B, N)
        if self.init_mm is not None:
            init = self.init_mm(x) if self.d_init is None else self.init_mm(x) * self.d_init
            fast = init if fast is None else fast + init
        if fast is None or decay is None:
            return fast
        return fast * decay

    def end_chunk(self, pres: Tensor, v: Tensor, decay: Tensor, need_m: bool) -> None:
        pres, v = pres.transpose(0, 1), v.transpose(0, 1)  # (B, k, N)
        if self.p_hist is None:
            self.p_hist, self.v_hist = pres, v
        else:
            self.p_hist = torch.cat([self.p_hist, pres], 1)
            self.v_hist = torch.cat([self.v_hist * decay.unsqueeze(-2), v], 1)
        self.d_init = decay if self.d_init is None else self.d_init * decay

    def final(self, x: Tensor) -> Tensor:
        if self.p_hist is None:  # no step yet
            n = x.shape[-1]
            return self.h_init if self.h_init is not None else x.new_zeros(self.batch, n, n)
        hebb, _ = chunk_end(self.h_init, None, self.d_init, self.p_hist.transpose(1, 2), self.v_hist)
        return hebb
