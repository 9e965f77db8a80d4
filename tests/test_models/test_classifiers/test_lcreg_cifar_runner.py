"""The CIFAR-10-LT LCReg recipe through the real Runner on real CIFAR-10."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))
CONFIG = osp.join(REPO, 'configs', 'lcreg', 'resnet32_cifar10-lt-if100.py')


class Probe(Hook):
    """Records losses and the estimator state the run starts from."""

    def __init__(self):
        self.losses, self.start_state = [], None

    def before_train(self, runner):
        est = runner.model.neck.aug_loss.estimator
        self.start_state = {k: v.clone() for k, v in est.state_dict().items()}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.losses.append({k: float(v.detach()) for k, v in outputs.items()})


def make_cfg(root, work_dir, epochs):
    cfg = Config.fromfile(CONFIG)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.update(data_root=root, verify_md5=False)
        cfg[key].update(num_workers=0, persistent_workers=False)
    # real recipe, fewer images per epoch (class-aware 640) and 3 epochs
    cfg.train_dataloader.batch_size = 64
    cfg.train_dataloader.sampler = dict(type='ClassAwareSampler',
                                        num_samples=640)
    cfg.train_cfg.update(max_epochs=epochs, stage1_epochs=epochs)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=0.5, by_epoch=True,
                                begin=0, end=epochs)]
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.work_dir = str(work_dir)
    cfg.log_level = 'WARNING'
    cfg.default_hooks.checkpoint.max_keep_ckpts = -1
    return cfg


def train(cfg):
    runner = Runner.from_cfg(cfg)
    probe = Probe()
    runner.register_hook(probe, priority='LOWEST')
    runner.train()
    return runner, probe


def test_lcreg_trains_and_resumes_estimator(cifar10_root, tmp_path):
    runner, probe = train(make_cfg(cifar10_root, tmp_path, 3))
    losses = probe.losses
    assert len(losses) == 30
    assert {'loss', 'loss_cls', 'loss_recon', 'loss_latent_aug'} <= set(
        losses[0])
    # the logged 'loss' is the eq. 7 total, not the head's term
    for x in losses:
        parts = x['loss_cls'] + x['loss_recon'] + x['loss_latent_aug']
        assert abs(x['loss'] - parts) < 1e-4
    total = [x['loss'] for x in losses]
    first, last = sum(total[:5]) / 5, sum(total[-5:]) / 5
    assert last < first - 0.1, (first, last)
    # λ = λ0 · t / T: at the last iteration t = 29 of T = 30
    aug = runner.model.neck.aug_loss
    assert abs(aug.strength - 0.5 * 29 / 30) < 1e-6
    # the estimator saw every latent feature of the 30 batches of 64
    assert torch.all(aug.estimator.count == 30 * 64)

    ckpt = torch.load(osp.join(tmp_path, 'epoch_2.pth'), weights_only=False)
    saved = {k.split('estimator.')[1]: v for k, v in
             ckpt['state_dict'].items() if '.estimator.' in k}
    assert set(saved) == {'mean', 'covariance', 'count'}
    resume_cfg = make_cfg(cifar10_root, tmp_path / 'resumed', 3)
    resume_cfg.resume = True
    resume_cfg.load_from = osp.join(tmp_path, 'epoch_2.pth')
    _, resumed = train(resume_cfg)
    for name, value in saved.items():
        assert torch.equal(resumed.start_state[name], value), name
    assert len(resumed.losses) == 10  # only the third epoch ran
