"""ClassCountsHook, DeferredReweightingHook and PosthocLogitAdjustHook
through the real MMEngine Runner (tiny Digits-LT, ResNet-8, a few seconds).

DRW: the weights of the head loss before and after the switch epoch, and
after a resume on either side of it, are those the training counts give.
"""
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmpretrain.registry import HOOKS

import lcreg  # noqa: F401
from lcreg.models.losses import class_balanced_weights
from lcreg.models.losses.ldam_loss import ldam_margins

TRAIN_DATASET = dict(
    type='LongTailed',
    dataset=dict(type='SklearnDigits', split='train', scale=2,
                 pipeline=[dict(type='PackInputs')]),
    imbalance_factor=10, imbalance_type='exp', seed=0, max_per_class=12)
TEST_DATASET = dict(type='SklearnDigits', split='test', test_per_class=3,
                    scale=2, pipeline=[dict(type='PackInputs')])


@HOOKS.register_module(force=True)
class ClassWeightRecorder(Hook):
    """Records, at every training epoch, the head loss's class weights
    after DeferredReweightingHook has set them (lower priority)."""

    priority = 'LOW'

    def __init__(self):
        self.records = []

    def before_train_epoch(self, runner):
        weight = runner.model.head.loss_module.class_weight
        self.records.append((runner.epoch, None if weight is None else
                             list(weight)))


def _cfg(work_dir, max_epochs=3, **extra):
    cfg = dict(
        default_scope='mmpretrain',
        work_dir=str(work_dir),
        model=dict(
            type='ImageClassifier',
            data_preprocessor=dict(num_classes=10, mean=[76.0] * 3,
                                   std=[97.0] * 3, to_rgb=False),
            backbone=dict(type='CifarResNet', depth=8),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='NormedLinearClsHead', num_classes=10,
                      in_channels=64, scale=30.0,
                      loss=dict(type='LDAMLoss', max_m=0.5))),
        train_dataloader=dict(
            batch_size=16, num_workers=0, dataset=TRAIN_DATASET,
            sampler=dict(type='DefaultSampler', shuffle=True)),
        test_dataloader=dict(
            batch_size=30, num_workers=0, dataset=TEST_DATASET,
            sampler=dict(type='DefaultSampler', shuffle=False)),
        test_evaluator=dict(type='LongTailMetric',
                            train_dataset=TRAIN_DATASET),
        test_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01,
                                          momentum=0.9)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=100),
            class_counts=dict(type='ClassCountsHook'),
            logit_adjust=dict(type='PosthocLogitAdjustHook', tau=0.0)),
        custom_hooks=[
            dict(type='DeferredReweightingHook', start_epoch=2,
                 beta=0.9999),
            dict(type='ClassWeightRecorder')],
        randomness=dict(seed=0),
        log_level='WARNING')
    cfg.update(extra)
    return Config(cfg)


def _recorder(runner):
    return next(h for h in runner.hooks
                if isinstance(h, ClassWeightRecorder))


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('drw')
    runner = Runner.from_cfg(_cfg(work_dir))
    runner.train()
    return work_dir, runner


def test_counts_reach_the_loss(trained):
    _, runner = trained
    counts = runner.train_dataloader.dataset.metainfo['class_counts']
    assert counts[0] == 12 and counts[-1] == 1  # IF 10 profile
    loss = runner.model.head.loss_module
    assert loss.class_counts == counts
    assert loss.margins.tolist() == pytest.approx(
        ldam_margins(counts, 0.5).tolist())


def test_drw_switches_at_the_epoch(trained):
    _, runner = trained
    counts = runner.train_dataloader.dataset.metainfo['class_counts']
    weights = class_balanced_weights(counts, 0.9999).tolist()
    records = _recorder(runner).records
    assert [e for e, _ in records] == [0, 1, 2]
    assert records[0][1] is None and records[1][1] is None
    assert records[2][1] == pytest.approx(weights)
    assert sum(records[2][1]) == pytest.approx(10.0, abs=1e-4)


@pytest.mark.parametrize('resume_epoch, expected_on', [
    (1, [False, True]),   # resumed before the switch: off, then on
    (2, [True]),          # resumed after it: on from the first epoch
])
def test_drw_after_resume(trained, tmp_path, resume_epoch, expected_on):
    work_dir, runner = trained
    resumed = Runner.from_cfg(_cfg(
        tmp_path, resume=True,
        load_from=str(work_dir / f'epoch_{resume_epoch}.pth')))
    resumed.train()
    records = _recorder(resumed).records
    assert [e for e, _ in records] == list(range(resume_epoch, 3))
    assert [w is not None for _, w in records] == expected_on
    assert records[-1][1] == pytest.approx(_recorder(runner).records[2][1])


@HOOKS.register_module(force=True)
class TestScoreRecorder(Hook):
    """Keeps the predicted scores of every test batch."""

    def __init__(self):
        self.scores = []

    def after_test_iter(self, runner, batch_idx, data_batch=None,
                        outputs=None):
        self.scores.extend(s.pred_score.clone() for s in outputs)


def test_posthoc_logit_adjustment_in_test(trained, tmp_path):
    """tau = 1: the test scores of the checkpoint become softmax(f − log π),
    so log p_adjusted − log p_plain + log π is constant over the classes."""
    work_dir, runner = trained
    counts = runner.train_dataloader.dataset.metainfo['class_counts']
    scores = {}
    for tau in (0.0, 1.0):
        cfg = _cfg(tmp_path / f'tau{tau}',
                   load_from=str(work_dir / 'epoch_3.pth'))
        cfg.default_hooks.logit_adjust.tau = tau
        cfg.custom_hooks = [dict(type='TestScoreRecorder')]
        tester = Runner.from_cfg(cfg)
        tester.test()
        recorder = next(h for h in tester.hooks
                        if isinstance(h, TestScoreRecorder))
        scores[tau] = torch.stack(recorder.scores)
    assert scores[0.0].shape == (30, 10)
    log_prior = torch.log(torch.tensor(counts, dtype=torch.float) /
                          sum(counts))
    gap = scores[1.0].log() - scores[0.0].log() + log_prior
    torch.testing.assert_close(gap, gap[:, :1].expand_as(gap), atol=1e-4,
                               rtol=0)
    assert not torch.allclose(scores[1.0], scores[0.0], atol=1e-3)
    # the training-mode head is untouched: the hook is gone after the run
    assert not tester.model.head._forward_hooks
