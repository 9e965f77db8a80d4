"""The two-stage recipe through the real MMEngine Runner on Digits-LT."""
import copy
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from lcreg.datasets.samplers import ClassAwareSampler
from lcreg.models.losses import LabelAwareSmoothingLoss

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(REPO, 'configs', 'demo', 'lcreg_resnet32_digits-lt.py')


class Recorder(Hook):
    """Snapshots parameters, lrs and the loader after every iteration, and
    the head's weights and gradients just before every optimizer step."""

    def __init__(self):
        self.snaps = []
        self.before_steps = []

    def before_train(self, runner):
        model = runner.model
        head = {n: p for n, p in model.named_parameters()
                if n.startswith('head.')}

        def grab(optimizer, args, kwargs):
            self.before_steps.append({n: (p.detach().clone(), None if p.grad
                                          is None else p.grad.clone())
                                      for n, p in head.items()})

        runner.optim_wrapper.optimizer.register_step_pre_hook(grab)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        model = runner.model
        self.snaps.append(dict(
            epoch=runner.epoch,
            params={k: v.detach().clone()
                    for k, v in model.named_parameters()},
            bn_mean=model.backbone.bn1.running_mean.clone(),
            lrs={g['name']: g['lr']
                 for g in runner.optim_wrapper.optimizer.param_groups},
            sampler=type(runner.train_dataloader.sampler).__name__,
            loss=type(model.head.loss_module).__name__,
            mixup=model.data_preprocessor.batch_augments is not None,
            strength=model.neck.aug_loss.strength,
            outputs={k: float(v.detach()) for k, v in outputs.items()}))


def make_cfg(work_dir, stage1=1, total=3, **stage2):
    cfg = Config.fromfile(DEMO)
    cfg.work_dir = str(work_dir)
    cfg.train_cfg.stage1_epochs = stage1
    cfg.train_cfg.max_epochs = total
    cfg.train_cfg.stage2.update(stage2)
    cfg.param_scheduler[0].end = max(stage1, 1)
    cfg.param_scheduler[1].end = max(stage1, 1)
    cfg.param_scheduler[1].milestones = []
    cfg.param_scheduler[2].begin = stage1
    cfg.param_scheduler[2].end = total
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.logger.interval = 100
    cfg.default_hooks.checkpoint.max_keep_ckpts = -1
    cfg.log_level = 'WARNING'
    return cfg


def train(cfg, recorder=None):
    runner = Runner.from_cfg(cfg)
    recorder = recorder or Recorder()
    runner.register_hook(recorder, priority='LOWEST')
    runner.train()
    return runner, recorder.snaps


@pytest.fixture(scope='module')
def two_stage_run(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('two_stage')
    recorder = Recorder()
    run = train(make_cfg(work_dir, stage1=1, total=3), recorder)
    return run, work_dir, recorder


def test_stage_switch_freezes_representation(two_stage_run):
    (runner, snaps), _, _ = two_stage_run
    stage1 = [s for s in snaps if s['epoch'] == 0]
    stage2 = [s for s in snaps if s['epoch'] >= 1]
    assert stage1 and len(stage2) >= 4
    # stage 1: instance-balanced, mixup, CE + neck losses, scale fixed at 1
    assert stage1[-1]['sampler'] == 'DefaultSampler' and stage1[-1]['mixup']
    assert {'loss_recon', 'loss_latent_aug'} <= set(stage1[-1]['outputs'])
    assert torch.equal(stage1[-1]['params']['head.scale'], torch.ones(10))
    # λ = λ0·t/T with T = stage-1 iterations (8), not the whole run (24)
    iters = len(stage1)
    assert stage1[-1]['strength'] == pytest.approx(0.5 * (iters - 1) / iters)
    # stage 2: class-aware sampler, LAS, no mixup, no neck losses
    for snap in stage2:
        assert snap['sampler'] == 'ClassAwareSampler'
        assert snap['loss'] == 'LabelAwareSmoothingLoss'
        assert not snap['mixup']
        assert 'loss_recon' not in snap['outputs']
    # frozen at the values stage 1 ended with (not only from the first
    # stage-2 step on: the switch itself must not move them)
    stage1_end = stage1[-1]['params']
    for snap in stage2:
        for name, value in stage1_end.items():
            if name.startswith(('backbone.', 'neck.')):
                assert torch.equal(value, snap['params'][name]), name
    first, last = stage2[0]['params'], stage2[-1]['params']
    assert not torch.equal(first['head.fc.weight'], last['head.fc.weight'])
    assert not torch.equal(first['head.scale'], last['head.scale'])
    # shift_bn=False: BN statistics frozen too, at their stage-1 values
    for snap in stage2:
        assert torch.equal(stage1[-1]['bn_mean'], snap['bn_mean'])


def test_first_stage2_step_has_no_stage1_momentum(two_stage_run):
    """Momentum buffers are cleared at the switch: the first stage-2 SGD
    step of every head parameter is −lr·(g + wd·w), with the group's lr
    (classifier lr·lr_factor, scale lr) and no 0.9·(stage-1 buffer)."""
    (runner, snaps), _, recorder = two_stage_run
    first = [i for i, s in enumerate(snaps) if s['epoch'] >= 1][0]
    assert len(recorder.before_steps) == len(snaps)
    before = recorder.before_steps[first]
    wd = runner.optim_wrapper.optimizer.defaults['weight_decay']
    assert wd > 0 and runner.optim_wrapper.optimizer.defaults[
        'momentum'] == 0.9
    lrs = {'head.fc.weight': 0.05, 'head.fc.bias': 0.05, 'head.scale': 0.1}
    # the classifier had stage-1 momentum to forget
    assert recorder.before_steps[first - 1]['head.fc.weight'][1] is not None
    for name, lr in lrs.items():
        weight, grad = before[name]
        assert grad is not None and grad.abs().sum() > 0, name
        expected = weight - lr * (grad + wd * weight)
        torch.testing.assert_close(snaps[first]['params'][name], expected,
                                   rtol=1e-6, atol=1e-7)


def test_stage2_learning_rates(two_stage_run):
    (runner, snaps), _, _ = two_stage_run
    stage2 = [s for s in snaps if s['epoch'] >= 1]
    lr, factor = 0.1, 0.5  # demo config: stage2 lr 0.1, lr_factor 0.5
    assert stage2[0]['lrs']['representation'] == 0.0
    assert stage2[0]['lrs']['classifier'] == pytest.approx(lr * factor)
    assert stage2[0]['lrs']['scale'] == pytest.approx(lr)
    # cosine over the 2 stage-2 epochs (stepped per epoch)
    assert stage2[-1]['lrs']['classifier'] == pytest.approx(lr * factor / 2)
    loss = runner.model.head.loss_module
    assert isinstance(loss, LabelAwareSmoothingLoss)
    counts = runner.train_dataloader.dataset.metainfo['class_counts']
    assert len(set(counts)) > 2  # long-tailed: the ε vector has a shape
    # demo recipe: ε_head 0.3, ε_tail 0, concave: ε_y = 0.3·sin(π/2·x_y)
    # with x_y = (N_y − N_min) / (N_max − N_min), from the real counts
    low, high = min(counts), max(counts)
    expected = [0.3 * math.sin(math.pi / 2 * (n - low) / (high - low))
                for n in counts]
    assert loss.smoothing.tolist() == pytest.approx(expected, abs=1e-6)
    assert isinstance(runner.train_dataloader.sampler, ClassAwareSampler)


def test_resume_across_boundary_matches(two_stage_run, tmp_path):
    """Stop after stage 1, resume: stage 2 gives the same weights."""
    (_, snaps), work_dir, _ = two_stage_run
    cfg = make_cfg(tmp_path, stage1=1, total=3)
    cfg.load_from = osp.join(work_dir, 'epoch_1.pth')
    cfg.resume = True
    runner, resumed = train(cfg)
    assert resumed[0]['epoch'] == 1 and resumed[-1]['epoch'] == 2
    # same sampler seed, same switch: identical final weights
    for name, value in snaps[-1]['params'].items():
        assert torch.allclose(value, resumed[-1]['params'][name],
                              atol=1e-6), name


def test_resume_inside_stage2_keeps_lr(two_stage_run, tmp_path):
    (_, snaps), work_dir, _ = two_stage_run
    cfg = make_cfg(tmp_path, stage1=1, total=3)
    cfg.load_from = osp.join(work_dir, 'epoch_2.pth')
    cfg.resume = True
    runner, resumed = train(cfg)
    assert [s['epoch'] for s in resumed] == [2] * len(resumed)
    original = [s for s in snaps if s['epoch'] == 2]
    assert resumed[0]['lrs'] == pytest.approx(original[0]['lrs'])
    assert resumed[0]['sampler'] == 'ClassAwareSampler'
    for name, value in original[-1]['params'].items():
        assert torch.allclose(value, resumed[-1]['params'][name],
                              atol=1e-6), name


def test_stage2_alone_from_stage1_checkpoint(two_stage_run, tmp_path):
    (_, snaps), work_dir, _ = two_stage_run
    cfg = make_cfg(tmp_path, stage1=0, total=1)
    cfg.param_scheduler = [copy.deepcopy(cfg.param_scheduler[2])]
    cfg.load_from = osp.join(work_dir, 'epoch_1.pth')
    cfg.val_dataloader = copy.deepcopy(cfg.test_dataloader)
    cfg.val_cfg = dict()
    cfg.val_evaluator = copy.deepcopy(cfg.test_evaluator)
    runner, alone = train(cfg)
    assert all(s['sampler'] == 'ClassAwareSampler' for s in alone)
    stage1_end = [s for s in snaps if s['epoch'] == 0][-1]['params']
    for name, value in alone[-1]['params'].items():
        if name.startswith(('backbone.', 'neck.')):
            assert torch.equal(value, stage1_end[name]), name
    metrics = runner.val_loop.run()
    assert {'lt/top1', 'lt/many', 'lt/medium', 'lt/few', 'lt/ece'} <= set(
        metrics)


def test_shift_bn_updates_running_stats_only(tmp_path):
    runner, snaps = train(make_cfg(tmp_path, stage1=1, total=2,
                                   shift_bn=True))
    stage2 = [s for s in snaps if s['epoch'] == 1]
    assert not torch.equal(stage2[0]['bn_mean'], stage2[-1]['bn_mean'])
    for name in ('backbone.bn1.weight', 'backbone.bn1.bias'):
        assert torch.equal(stage2[0]['params'][name],
                           stage2[-1]['params'][name])


def test_lws_trains_scale_only(tmp_path):
    runner, snaps = train(make_cfg(tmp_path, stage1=1, total=2,
                                   train_classifier=False))
    stage2 = [s for s in snaps if s['epoch'] == 1]
    assert torch.equal(stage2[0]['params']['head.fc.weight'],
                       stage2[-1]['params']['head.fc.weight'])
    assert not torch.equal(stage2[0]['params']['head.scale'],
                           stage2[-1]['params']['head.scale'])


def test_unknown_stage2_key_is_refused(tmp_path):
    cfg = make_cfg(tmp_path)
    cfg.train_cfg.stage2['lr_factr'] = 0.1
    with pytest.raises(KeyError, match='lr_factr'):
        Runner.from_cfg(cfg).train()


def test_stage1_scheduler_crossing_the_switch_is_refused(tmp_path):
    """Refused before the first epoch, not at the switch (after stage 1)."""
    cfg = make_cfg(tmp_path, stage1=1, total=2)
    cfg.param_scheduler[0].end = 2  # warm-up into stage 2
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError, match=r'param_scheduler\[0\]'):
        runner.train()
    assert runner.iter == 0 and not list(tmp_path.glob('epoch_*.pth'))


def test_scheduler_that_would_never_run_is_refused(tmp_path):
    """Stage 2 alone (stage1_epochs=0) with the full recipe's schedulers:
    the stage-2 cosine begins after the last epoch."""
    cfg = make_cfg(tmp_path, stage1=0, total=2)
    cfg.param_scheduler[2].begin, cfg.param_scheduler[2].end = 5, 7
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError) as err:
        runner.train()
    assert str(err.value).startswith(
        'param_scheduler[2] (CosineAnnealingLR) begins at epoch 5, but '
        'training ends at max_epochs=2: it would never run.')
    assert runner.iter == 0


def test_crt_reset_depends_on_seed_and_switch_epoch_only():
    """The re-drawn classifier is U(±1/√fan_in) from (seed, epoch) alone."""
    from types import SimpleNamespace

    from lcreg.engine.hooks.epoch_seed_hook import epoch_seed
    from lcreg.engine.runner import TwoStageTrainLoop

    def reset(seed, global_seed):
        head = torch.nn.Sequential(torch.nn.Linear(8, 3),
                                   torch.nn.Linear(3, 2, bias=False))
        loop = SimpleNamespace(runner=SimpleNamespace(seed=seed),
                               stage1_epochs=5,
                               model=SimpleNamespace(head=head))
        torch.manual_seed(global_seed)  # e.g. another rank's state
        TwoStageTrainLoop._reset_classifier(loop)
        return [p.detach().clone() for p in head.parameters()]

    weights = reset(seed=7, global_seed=0)
    assert all(torch.equal(a, b)
               for a, b in zip(weights, reset(seed=7, global_seed=123)))
    assert not torch.equal(weights[0], reset(seed=8, global_seed=0)[0])
    gen = torch.Generator().manual_seed(epoch_seed(7, 5, rank=0))
    bound = 8 ** -0.5
    expected_w = torch.empty(3, 8).uniform_(-bound, bound, generator=gen)
    expected_b = torch.empty(3).uniform_(-bound, bound, generator=gen)
    assert torch.equal(weights[0], expected_w)
    assert torch.equal(weights[1], expected_b)
    assert weights[2].abs().max() <= 3 ** -0.5


def test_crt_resume_at_the_boundary_matches(tmp_path):
    """cRT: a run resumed from the last stage-1 checkpoint re-draws the
    same classifier and ends with the same weights."""
    runner, snaps = train(make_cfg(tmp_path / 'run', stage1=1, total=2,
                                   reset_classifier=True))
    stage1_end = [s for s in snaps if s['epoch'] == 0][-1]['params']
    stage2 = [s for s in snaps if s['epoch'] == 1]
    # the classifier moved away from its stage-1 weights more than one
    # small stage-2 step could move it: it was re-drawn
    assert not torch.allclose(stage2[0]['params']['head.fc.weight'],
                              stage1_end['head.fc.weight'], atol=1e-2)
    cfg = make_cfg(tmp_path / 'resumed', stage1=1, total=2,
                   reset_classifier=True)
    cfg.load_from = str(tmp_path / 'run' / 'epoch_1.pth')
    cfg.resume = True
    _, resumed = train(cfg)
    for name, value in stage2[-1]['params'].items():
        assert torch.allclose(value, resumed[-1]['params'][name],
                              atol=1e-6), name


def test_stage2_loss_is_built_on_the_model_device():
    """The stage-2 loss is built after MMEngine moved the model (to a GPU in
    a real run; 'meta' here): its buffers must follow the head."""
    from types import SimpleNamespace

    from lcreg.engine.runner import TwoStageTrainLoop
    head = torch.nn.Module()
    head.fc = torch.nn.Linear(4, 3).to('meta')
    dataset = SimpleNamespace(metainfo=dict(class_counts=[100, 10, 1]))
    loop = SimpleNamespace(
        model=SimpleNamespace(head=head),
        stage2=dict(loss=dict(type='LabelAwareSmoothingLoss',
                              smooth_head=0.3, smooth_tail=0.0)),
        _class_counts=lambda data: TwoStageTrainLoop._class_counts(
            None, data))
    loss = TwoStageTrainLoop._stage2_loss(loop, dataset)
    assert isinstance(loss, LabelAwareSmoothingLoss)
    assert loss.smoothing.device.type == 'meta'
    assert loss.smoothing.shape == (3,)


def test_auto_scale_lr_scales_both_stages(two_stage_run, tmp_path):
    """``auto_scale_lr.enable=True`` with the demo's batch 64 and a base
    batch of 128: MMEngine halves the stage-1 lrs, the loop halves the
    absolute stage-2 lrs (``stage2.lr``) by the same factor."""
    (_, plain), _, _ = two_stage_run
    cfg = make_cfg(tmp_path, stage1=1, total=3)
    assert cfg.train_dataloader.batch_size == 64
    cfg.auto_scale_lr = dict(enable=True, base_batch_size=128)
    _, scaled = train(cfg)
    assert len(scaled) == len(plain)
    for a, b in zip(plain, scaled):
        assert a['epoch'] == b['epoch']
        for group in ('classifier', 'scale', 'representation'):
            assert b['lrs'][group] == pytest.approx(0.5 * a['lrs'][group])
    stage2 = [s for s in scaled if s['epoch'] >= 1]
    assert stage2[0]['lrs']['classifier'] == pytest.approx(0.1 * 0.5 * 0.5)
    assert stage2[0]['lrs']['scale'] == pytest.approx(0.1 * 0.5)


def test_stage1_checkpoint_survives_max_keep_ckpts(tmp_path):
    """``max_keep_ckpts=1`` deletes ``epoch_1.pth`` (the last stage-1 epoch)
    in stage 2; ``stage1.pth`` keeps it, and stage 2 alone runs from it."""
    cfg = make_cfg(tmp_path / 'run', stage1=1, total=2)
    cfg.default_hooks.checkpoint.max_keep_ckpts = 1
    _, snaps = train(cfg)
    assert sorted(p.name for p in (tmp_path / 'run').glob('*.pth')) == [
        'epoch_2.pth', 'stage1.pth']
    ckpt = torch.load(tmp_path / 'run' / 'stage1.pth', weights_only=False)
    assert ckpt['meta']['epoch'] == 1
    stage1_end = [s for s in snaps if s['epoch'] == 0][-1]['params']
    for name, value in stage1_end.items():
        assert torch.equal(ckpt['state_dict'][name], value), name
    # the README's "stage 2 alone" with that file
    alone_cfg = make_cfg(tmp_path / 'alone', stage1=0, total=1)
    alone_cfg.param_scheduler = [copy.deepcopy(alone_cfg.param_scheduler[2])]
    alone_cfg.load_from = str(tmp_path / 'run' / 'stage1.pth')
    _, alone = train(alone_cfg)
    assert all(s['sampler'] == 'ClassAwareSampler' for s in alone)
    assert torch.equal(alone[-1]['params']['backbone.conv1.weight'],
                       stage1_end['backbone.conv1.weight'])


def test_head_without_learnable_scale_keeps_scale_one(tmp_path):
    """``model.head.learnable_scale=False``: stage 2 leaves the scale at 1
    (the default ``stage2.train_scale`` follows the head)."""
    cfg = make_cfg(tmp_path, stage1=1, total=2)
    cfg.model.head.learnable_scale = False
    runner, snaps = train(cfg)
    stage2 = [s for s in snaps if s['epoch'] == 1]
    assert stage2 and all(torch.equal(s['params']['head.scale'],
                                      torch.ones(10)) for s in stage2)
    assert not runner.model.head.scale.requires_grad
    # the classifier itself did train
    assert not torch.equal(stage2[0]['params']['head.fc.weight'],
                           stage2[-1]['params']['head.fc.weight'])


def test_train_scale_contradicting_the_head_is_refused(tmp_path):
    cfg = make_cfg(tmp_path, stage1=1, total=2, train_scale=True)
    cfg.model.head.learnable_scale = False
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError) as err:
        runner.train()
    assert str(err.value) == (
        'train_cfg.stage2.train_scale=True contradicts '
        'model.head.learnable_scale=False (the head keeps its scale at 1): '
        "set one of them to the other's value.")
    assert runner.iter == 0


class UnweightedRecon(Hook):
    """Records, at every stage-1 step, the reconstruction loss of that
    very batch with ``loss_weight=1`` (the unweighted term of eq. 7)."""

    def __init__(self):
        self.unweighted = []

    def before_train(self, runner):
        loss = runner.model.neck.recon_loss
        weighted_forward = loss.forward

        def forward(*args, **kwargs):
            weight, loss.loss_weight = loss.loss_weight, 1.0
            try:
                self.unweighted.append(float(weighted_forward(
                    *args, **kwargs).detach()))
            finally:
                loss.loss_weight = weight
            return weighted_forward(*args, **kwargs)

        loss.forward = forward


def test_eq7_weights_on_the_runner_path(tmp_path):
    """The logged ``loss_recon`` of every stage-1 iteration is 0.1 (β of
    eq. 7 in the config) times the unweighted loss of the same batch, and
    the total is cls + recon + latent_aug."""
    cfg = make_cfg(tmp_path, stage1=1, total=2)
    assert cfg.model.neck.recon_loss.loss_weight == 0.1
    runner = Runner.from_cfg(cfg)
    probe, recorder = UnweightedRecon(), Recorder()
    runner.register_hook(probe)
    runner.register_hook(recorder, priority='LOWEST')
    runner.train()
    stage1 = [s['outputs'] for s in recorder.snaps if s['epoch'] == 0]
    assert len(probe.unweighted) == len(stage1) > 0
    for raw, out in zip(probe.unweighted, stage1):
        assert raw > 0
        assert out['loss_recon'] == pytest.approx(0.1 * raw, rel=1e-5)
        assert out['loss'] == pytest.approx(
            out['loss_cls'] + out['loss_recon'] + out['loss_latent_aug'],
            rel=1e-5)
