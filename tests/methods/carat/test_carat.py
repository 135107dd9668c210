"""CARAT: momentum prototypes, prototype filling, two-level reconstruction, shuffle aggregation,
contrastive rows, soft alignment, and that it learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mmerbench
from mmerbench.evaluation.metrics import micro_f1
from mmerbench.data import make_dataset, make_split
from mmerbench.testing.fixtures import make_tiny_dataset

from mmerbench_methods._blocks.alignment import SoftAligner, align_modalities
from mmerbench_methods._blocks.prototypes import MomentumPrototypes
from mmerbench_methods.carat.method import CARATMethod
from mmerbench_methods.carat.model import CARAT, CARATConfig

DIMS = {"text": 5, "audio": 4, "vision": 3}


def _model(**overrides) -> CARAT:
    torch.manual_seed(0)
    config = CARATConfig(modality_dims=DIMS, n_labels=3, hidden=8, latent=4, heads=2, feedforward=8, dropout=0.0,
                         reference_layers=1, other_layers=1, queue_size=16, **overrides)
    return CARAT(config)


def _inputs(batch=4, steps=(6, 6, 6)):
    torch.manual_seed(1)
    features = {m: torch.randn(batch, t, d) for (m, d), t in zip(DIMS.items(), steps)}
    masks = {m: torch.ones(batch, t, dtype=torch.bool) for m, t in zip(DIMS, steps)}
    return features, masks


def test_prototypes_move_by_the_momentum_rule_sample_by_sample():
    torch.manual_seed(0)
    prototypes = MomentumPrototypes(n_labels=3, dim=2, momentum=0.9)
    prototypes.positive.copy_(torch.randn(3, 2))
    prototypes.negative.copy_(torch.randn(3, 2))
    features, labels = torch.randn(5, 3, 2), (torch.rand(5, 3) > 0.5).float()
    valid = torch.tensor([True, True, False, True, True])
    positive, negative = prototypes.positive.clone(), prototypes.negative.clone()
    for i in range(5):  # the released code's loop: each sample in batch order
        if not valid[i]:
            continue
        for j in range(3):
            if labels[i, j] == 1:
                positive[j] = 0.9 * positive[j] + 0.1 * features[i, j]
            else:
                negative[j] = 0.9 * negative[j] + 0.1 * features[i, j]
    prototypes.update(features, labels, valid)
    assert torch.allclose(prototypes.positive, positive, atol=1e-6)
    assert torch.allclose(prototypes.negative, negative, atol=1e-6)


def test_prototypes_update_after_each_training_step_and_are_saved_with_the_weights():
    dataset = make_tiny_dataset(n_train=32, n_valid=8, n_test=8)
    method = CARATMethod(**{**CARATMethod.test_params, "epochs": 1})
    method.fit(dataset.train, dataset.valid)
    state = method.model_.state_dict()
    assert any(k.endswith("prototypes.text.positive") for k in state)
    assert float(method.model_.prototypes["text"].positive.abs().sum()) > 0  # moved away from their zero start
    assert not any("queue" in k for k in state)  # the queue is training state, not weights


def test_prototype_filling_is_soft_in_training_and_picks_the_nearer_prototype_at_inference():
    model = _model()
    protos = model.prototypes["text"]
    protos.positive.copy_(torch.tensor([[1.0, 0, 0, 0]] * 3))
    protos.negative.copy_(torch.tensor([[0, 1.0, 0, 0]] * 3))
    z = torch.zeros(1, 3, 3, 4)
    z[0, 0, :, 0] = 2.0  # text latent close to the "present" prototype for every label
    z[0, 0, :, 1] = 1.0
    model.eval()
    hard = model.prototype_filling(z)[0, 0]
    assert torch.allclose(hard, protos.positive)
    model.train()
    soft = model.prototype_filling(z)[0, 0]
    similarity = torch.tensor([2.0, 1.0]) / 5 ** 0.5
    w = torch.softmax(similarity, dim=0)
    assert torch.allclose(soft, w[0] * protos.positive + w[1] * protos.negative, atol=1e-6)


def test_level_one_reconstruction_of_a_modality_reads_only_the_others_and_its_prototype():
    model = _model().eval()
    features, masks = _inputs()
    out = model(features, masks)
    nudged = dict(features)
    nudged["text"] = features["text"] + 1e-3 * torch.randn_like(features["text"])
    again = model(nudged, masks)
    # Prototypes are zero, so the text's own slot holds Dec(0) whatever the text says:
    # aug_text is unchanged while the other modalities' aug (which read recon_text) move.
    assert torch.allclose(again["aug"][:, 0], out["aug"][:, 0], atol=1e-6)
    assert not torch.allclose(again["aug"][:, 1], out["aug"][:, 1], atol=1e-6)
    # Level 2 reads every level-1 feature, so it moves for every modality.
    assert not torch.allclose(again["beta"][:, 0], out["beta"][:, 0], atol=1e-6)


def test_shuffle_aggregation_builds_samples_from_label_columns_of_other_samples():
    model = _model()
    b, m, q, d = 5, 3, 3, 8
    # Feature value encodes (sample, modality, label) so the mix can be decoded.
    ids = torch.arange(b * m * q, dtype=torch.float32).view(b, m, q, 1).expand(b, m, q, d).contiguous()
    labels = (torch.rand(b, q) > 0.5).float()
    captured = {}
    model.aggregate = lambda x: (captured.setdefault("mixed", x), x[..., 0])[1]
    torch.manual_seed(3)
    _, mixed_labels = model.shuffled_aggregation(ids, labels)
    code = captured["mixed"][..., 0].long()  # (B, M, q)
    sample, modality, label = code // (m * q), (code // q) % m, code % q
    assert torch.equal(label, torch.arange(q).expand(b, m, q))  # label j's slot keeps label j's feature
    for j in range(q):
        for k in range(m):
            assert sorted(sample[:, k, j].tolist()) == list(range(b))  # a permutation of the batch
        for i in range(b):
            assert sorted(modality[i, :, j].tolist()) == list(range(m))  # a permutation of the modalities
    assert torch.equal(mixed_labels, labels[sample, label])


def test_contrastive_rows_cover_three_levels_and_six_q_classes():
    model = _model().train()
    features, masks = _inputs()
    masks["audio"][1] = False  # sample 1 lacks audio: its level-1 audio rows are left out
    features["audio"][1] = 0.0
    labels = torch.tensor([[1.0, 0, 0], [0, 1, 0], [1, 1, 1], [0, 0, 0]])
    out = model(features, masks)
    rows, classes = model.contrastive_rows(out, labels)
    assert rows.shape == (3 * 3 * 4 * 3 - 3, 4)
    assert torch.allclose(rows.norm(dim=-1), torch.ones(len(rows)), atol=1e-5)
    assert set(classes.tolist()) <= set(range(6 * 3))
    # Sample 0, text (m = 0), label 0 present -> class 0; label 1 absent -> class q + 1 = 4.
    assert classes[0].item() == 0 and classes[1].item() == 4
    loss = model.contrastive_loss(out, labels)
    assert torch.isfinite(loss) and len(model.queue) == min(16, len(rows))


def test_soft_alignment_maps_any_length_to_the_reference_positions():
    torch.manual_seed(0)
    aligners = torch.nn.ModuleDict({"audio": SoftAligner(4, max_steps=5)})
    features = {"text": torch.randn(2, 5, 3), "audio": torch.randn(2, 11, 4)}
    masks = {"text": torch.tensor([[True] * 5, [True] * 3 + [False] * 2]),
             "audio": torch.tensor([[True] * 11, [False] * 11])}
    aligned, aligned_masks, _ = align_modalities(aligners, features, masks, "text")
    assert aligned["audio"].shape == (2, 5, 4) and torch.equal(aligned["text"], features["text"])
    assert aligned_masks["audio"][0].all() and not aligned_masks["audio"][1].any()  # sample 1 has no audio
    assert torch.all(aligned["audio"][1] == 0)


def test_soft_aligner_lstm_equals_a_packed_lstm_at_valid_steps():
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.manual_seed(0)
    aligner = SoftAligner(4, max_steps=3)
    x, mask = torch.randn(3, 7, 4), torch.tensor([[True] * 7, [True] * 4 + [False] * 3, [True] + [False] * 6])
    x = x * mask.unsqueeze(-1)
    plain, _ = aligner.position_predictor(x)
    packed = pack_padded_sequence(x, mask.sum(1), batch_first=True, enforce_sorted=False)
    reference, _ = pad_packed_sequence(aligner.position_predictor(packed)[0], batch_first=True, total_length=7)
    assert torch.allclose(plain * mask.unsqueeze(-1), reference, atol=1e-6)


def test_unaligned_data_gets_soft_alignment_and_alignment_none_skips_it():
    dataset = make_tiny_dataset(n_train=16, n_valid=4, n_test=4)  # steps 6, 9, 4: unaligned
    model = CARATMethod(**CARATMethod.test_params).build_model(dataset.train)
    assert set(model.aligners) == {"audio", "vision"} and model.config.align_steps == 6
    model = CARATMethod(**{**CARATMethod.test_params, "alignment": "none"}).build_model(dataset.train)
    assert len(model.aligners) == 0
    with pytest.raises(mmerbench.errors.UsageError, match="alignment='ctc'"):
        CARATMethod(alignment="ctc").build_model(dataset.train)


def test_detaching_reconstruction_targets_changes_the_gradient_not_the_loss():
    dataset = make_tiny_dataset(n_train=16, n_valid=4, n_test=4)
    from mmerbench.training import Batch

    batch = Batch.from_split(dataset.train, np.arange(16), torch.device("cpu"))
    only_mse = {"lsr_clf_weight": 0.0, "aug_clf_weight": 0.0, "beta_clf_weight": 0.0, "cl_weight": 0.0,
                "total_aug_clf_weight": 0.0, "shuffle_aug_clf_weight": 0.0, "alignment": "none", "dropout": 0.0}
    losses, gradients = [], []
    for detach in (False, True):
        method = CARATMethod(**{**CARATMethod.test_params, **only_mse, "detach_reconstruction_targets": detach})
        torch.manual_seed(0)
        model = method.build_model(dataset.train)
        loss, _ = method.training_loss(model, batch, 1)
        loss.backward()
        losses.append(float(loss.detach()))
        gradients.append(model.label_queries["text"].grad.clone())
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    # Undetached (as released), the MSE also pulls r towards its reconstructions: an extra gradient.
    assert not torch.allclose(gradients[0], gradients[1])


def test_missing_modality_gives_finite_scores_and_loss():
    model = _model().train()
    features, masks = _inputs()
    for m in ("audio", "vision"):
        masks[m][0] = False
        features[m][0] = 0.0
    out = model(features, masks)
    assert torch.isfinite(out["proba"]).all() and torch.equal(out["r"][0, 1:], torch.zeros_like(out["r"][0, 1:]))


def _cued_split(n: int, rng: np.random.Generator, q: int = 3, steps: int = 6, dim: int = 6):
    """Sparse labels; every modality carries each present label's cue at a random step (CARAT's premise:
    modalities share what they say, so one can be reconstructed from the others)."""
    labels = (rng.random((n, q)) < 0.25).astype(np.uint8)
    features, lengths = {}, {}
    for m in ("text", "audio", "vision"):
        x = rng.normal(size=(n, steps, dim)).astype(np.float32)
        where = rng.integers(0, steps, size=(n, q))
        for j in range(q):
            rows = np.nonzero(labels[:, j])[0]
            x[rows, where[rows, j], 2 * j: 2 * j + 2] += 3.0
        features[m], lengths[m] = x, np.full(n, steps)
    return make_split(features, labels, lengths, label_names=[f"emotion_{j}" for j in range(q)])


@pytest.mark.learning
def test_carat_learns_beyond_the_label_prior():
    # Every loss term at the released weights. With the released code's undetached reconstruction
    # targets the MSE terms pulled r towards its reconstructions and CARAT did not beat the prior
    # within a test's budget (a few hundred steps; the paper trains ~5000), so this test uses the
    # documented switch that makes r a fixed target of the reconstructions.
    rng = np.random.default_rng(0)
    dataset = make_dataset("cued", _cued_split(240, rng), _cued_split(80, rng), _cued_split(160, rng))
    params = {**CARATMethod.test_params, "hidden": 16, "latent": 8, "dropout": 0.0, "lr": 1e-2, "warmup": 0.0,
              "epochs": 16, "patience": 30, "detach_reconstruction_targets": True, "random_state": 0}
    method = mmerbench.make_method("carat", **params).fit(dataset.train, dataset.valid)
    prior = mmerbench.make_method("prior").fit(dataset.train, dataset.valid)
    truth = dataset.test.labels.astype(bool)
    learned = micro_f1(truth, method.predict(dataset.test).astype(bool))
    baseline = micro_f1(truth, prior.predict(dataset.test).astype(bool))
    assert learned >= baseline + 0.05, (learned, baseline)


def test_released_code_settings_no_label_dropout_and_all_epochs():
    method = mmerbench.make_method("carat")
    assert method.label_dropout == 0.0 and method.dropout == 0.3 and method.patience == 0 and method.epochs == 20
    config = CARATConfig(modality_dims=DIMS, n_labels=3, hidden=8, latent=4, heads=2, feedforward=8, dropout=0.3)
    built = CARAT(config)
    assert all(attention.dropout.p == 0.0 for attention in built.label_attention.values())
    assert all(attention.dropout.p == 0.2 for attention in CARAT(
        CARATConfig(modality_dims=DIMS, n_labels=3, hidden=8, latent=4, heads=2, feedforward=8,
                    label_dropout=0.2)).label_attention.values())
