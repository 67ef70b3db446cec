"""Few-shot models on the Omniglot backbone: the plastic output layer against a plain per-step oracle, the
batched paths against step-by-step / per-episode references, MAML against a hand-written inner step."""
import pytest
import torch
from torch.func import functional_call
from torch.nn import functional as F

from baselines.fewshot import MAMLClassifier, ProtoNetClassifier
from plastic.conv import ConvBackbone, conv_output_side
from plastic.fewshot import PlasticFewShotClassifier
from plastic.output_layer import PlasticOutputLayer
from tests.reference import plastic_output_step


def episode_inputs(batch, steps, n_in, k, generator):
    x = torch.randn(steps, batch, n_in, generator=generator)
    labels = F.one_hot(torch.randint(0, k, (steps, batch), generator=generator), k).to(x.dtype)
    labels[-1] = 0  # the query step carries no label
    return torch.cat([x, labels], dim=-1)


@pytest.mark.parametrize("rule", ["oja", "hebb"])
@pytest.mark.parametrize("alpha", ["free", "shared"])
def test_plastic_output_layer_matches_plain_oracle(rule, alpha, float64):
    torch.manual_seed(0)
    layer = PlasticOutputLayer(4, 3, rule=rule, alpha=alpha, eta=0.3, label_scale=5.0, init_scale=0.5)
    inputs = episode_inputs(2, 4, 4, 3, torch.Generator().manual_seed(1))
    hebb = 0.2 * torch.randn(2, 4, 3)  # non-zero start so the plastic term matters from step one
    ref = [hebb[b].clone() for b in range(2)]
    for t in range(inputs.shape[0]):
        log_y, hebb = layer.step(inputs[t], hebb)
        for b in range(2):
            y, ref[b] = plastic_output_step(inputs[t, b, :4], inputs[t, b, 4:], ref[b], layer.w, layer.alpha,
                                            layer.eta, rule, 5.0)
            torch.testing.assert_close(log_y[b].exp(), y)
            torch.testing.assert_close(hebb[b], ref[b])


def test_plastic_output_layer_gradients_match_oracle(float64):
    torch.manual_seed(0)
    layer = PlasticOutputLayer(3, 2, rule="oja", eta=0.2, label_scale=3.0, init_scale=0.5)
    inputs = episode_inputs(1, 3, 3, 2, torch.Generator().manual_seed(2))
    log_y, _ = layer(inputs)
    fast = torch.autograd.grad(log_y[-1, 0, 0], [layer.w, layer.alpha, layer.eta])
    hebb = torch.zeros(3, 2)
    for t in range(3):
        y, hebb = plastic_output_step(inputs[t, 0, :3], inputs[t, 0, 3:], hebb, layer.w, layer.alpha, layer.eta,
                                      "oja", 3.0)
    slow = torch.autograd.grad(torch.log(y[0]), [layer.w, layer.alpha, layer.eta])
    for a, b in zip(fast, slow):
        torch.testing.assert_close(a, b)


def test_large_label_makes_the_output_the_label_and_oja_stores_the_feature():
    layer = PlasticOutputLayer(5, 3, rule="oja", eta=1.0, label_scale=1000.0)
    x = torch.rand(2, 5)
    label = F.one_hot(torch.tensor([2, 0]), 3).float()
    log_y, hebb = layer.step(torch.cat([x, label], -1), layer.initial_state(2))
    torch.testing.assert_close(log_y.exp(), label)
    torch.testing.assert_close(hebb[0, :, 2], x[0])  # eta = 1, y = 1: the column becomes the feature
    assert hebb[0, :, :2].abs().max() == 0


def test_backbone_maps_31_to_a_64_feature():
    assert [conv_output_side(31, n) for n in range(5)] == [31, 15, 7, 3, 1]
    backbone = ConvBackbone(31)
    assert backbone(torch.zeros(2, 1, 31, 31)).shape == (2, 64) and backbone.feature_size == 64
    with pytest.raises(ValueError, match="image_size"):
        ConvBackbone(28)


def make_plastic(alpha="free"):
    torch.manual_seed(0)
    head = PlasticOutputLayer(64, 5, rule="oja", alpha=alpha, eta=0.5, label_scale=1000.0, alpha_init="uniform")
    return PlasticFewShotClassifier(ConvBackbone(31), head, (1, 31, 31))


def test_paper_parameter_count_shared_alpha():
    # Miconi v1: 111,746 = convs 111,424 + w 320 + one alpha + eta
    assert sum(p.numel() for p in make_plastic("shared").parameters()) == 111_746
    assert sum(p.numel() for p in make_plastic("free").parameters()) == 112_065


def test_plastic_classifier_forward_equals_stepping_and_classify():
    model = make_plastic()
    g = torch.Generator().manual_seed(0)
    support, query = torch.rand(3, 5, 1, 31, 31, generator=g), torch.rand(3, 1, 1, 31, 31, generator=g)
    labels = torch.stack([torch.randperm(5, generator=g) for _ in range(3)])
    onehot = torch.cat([F.one_hot(labels, 5).float(), torch.zeros(3, 1, 5)], dim=1)  # (B, 6, 5)
    seq = torch.cat([torch.cat([support, query], 1).flatten(2), onehot], -1).transpose(0, 1)  # (6, B, 966)
    out, _ = model(seq)
    state, stepped = model.initial_state(3), []
    for t in range(6):
        y, state = model.step(seq[t], state)
        stepped.append(y)
    classified = model.classify(support, labels, query)  # (B, 1, 5)
    torch.testing.assert_close(out, torch.stack(stepped))
    torch.testing.assert_close(classified[:, 0], out[-1])
    grads = [torch.autograd.grad(v.sum(), model.head.alpha, retain_graph=True)[0] for v in (out[-1], classified)]
    torch.testing.assert_close(grads[0], grads[1])


def test_protonet_matches_learn2learn_per_episode():
    import learn2learn as l2l

    torch.manual_seed(0)
    model = ProtoNetClassifier(31, 5)
    g = torch.Generator().manual_seed(1)
    support, query = torch.rand(4, 5, 1, 31, 31, generator=g), torch.rand(4, 2, 1, 31, 31, generator=g)
    labels = torch.stack([torch.randperm(5, generator=g) for _ in range(4)])
    batched = model.classify(support, labels, query)
    for b in range(4):
        classifier = l2l.nn.PrototypicalClassifier(model.backbone(support[b]), labels[b])
        torch.testing.assert_close(batched[b], F.log_softmax(classifier(model.backbone(query[b])), -1))


@pytest.mark.parametrize("first_order", [False, True])
def test_maml_one_inner_step_matches_hand_written_adaptation(first_order):
    torch.manual_seed(0)
    model = MAMLClassifier(31, 5, inner_steps=1, inner_lr=0.4, first_order=first_order)
    net = model.maml.module
    g = torch.Generator().manual_seed(1)
    support, query = torch.rand(2, 5, 1, 31, 31, generator=g), torch.rand(2, 1, 1, 31, 31, generator=g)
    labels = torch.stack([torch.randperm(5, generator=g) for _ in range(2)])
    got = model.classify(support, labels, query)
    params = dict(net.named_parameters())
    for b in range(2):
        inner = F.cross_entropy(functional_call(net, params, (support[b],)), labels[b])
        grads = torch.autograd.grad(inner, list(params.values()), create_graph=not first_order)
        fast = {n: p - 0.4 * gr for (n, p), gr in zip(params.items(), grads)}
        expected = F.log_softmax(functional_call(net, fast, (query[b],)), -1)
        torch.testing.assert_close(got[b], expected)
        meta = [torch.autograd.grad(v[0, 0], net[1].weight, retain_graph=True)[0] for v in (got[b], expected)]
        torch.testing.assert_close(meta[0], meta[1])


def test_maml_evaluates_under_no_grad_with_test_steps():
    torch.manual_seed(0)
    model = MAMLClassifier(31, 5, inner_steps=1, test_inner_steps=3).eval()
    support, query = torch.rand(2, 5, 1, 31, 31), torch.rand(2, 1, 1, 31, 31)
    with torch.no_grad():
        out = model.classify(support, torch.arange(5).expand(2, 5), query)
    assert out.shape == (2, 1, 5) and not out.requires_grad and torch.isfinite(out).all()


def test_channels_last_backbone_equals_the_contiguous_one():
    """The NHWC speed path against plain NCHW: same features and same gradients (weights and images)."""
    from plastic.conv import ConvBackbone
    torch.manual_seed(0)
    fast = ConvBackbone(31, channels_last=True)
    torch.manual_seed(0)
    plain = ConvBackbone(31, channels_last=False)
    assert fast[0].weight.is_contiguous(memory_format=torch.channels_last) and plain[0].weight.is_contiguous()
    images = torch.randn(6, 1, 31, 31)
    grads = []
    for net in (fast, plain):
        x = images.clone().requires_grad_()
        out = net(x)
        grads.append((out, *torch.autograd.grad(out.sin().sum(), [x, *net.parameters()])))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
