"""One training loop for both stages of the MiSLAS / decoupling recipe.

Stage 1 (representation) runs the config as written: instance-balanced
sampling, mixup, cross-entropy plus the LCReg neck losses. At epoch
``stage1_epochs`` the loop switches to stage 2 (classifier):

* the representation (backbone, neck) is frozen, and put in eval mode
  unless ``shift_bn`` (then BN running statistics are re-estimated on the
  class-balanced batches, BN affine parameters stay frozen);
* the neck losses and mixup turn off;
* the sampler becomes ``stage2.sampler`` (class-aware by default) over the
  same dataset;
* the head loss becomes ``stage2.loss`` (label-aware smoothing), built
  with the training class counts ``dataset.metainfo['class_counts']``;
* the classifier group of the optimizer gets ``lr · lr_factor``, the
  weight-scaling group ``lr``, momentum buffers are cleared (with
  ``auto_scale_lr.enable=True`` both are scaled by the factor MMEngine
  applied to the stage-1 lrs: total batch / ``base_batch_size``); the stage-2
  learning-rate schedule (cosine) is an ordinary ``param_scheduler``
  entry with ``begin=stage1_epochs`` in the config.

The optimizer needs ``constructor='StageOptimWrapperConstructor'`` (fixed
parameter groups), so checkpoints resume in either stage and across the
boundary. At the end of stage 1 the loop saves ``stage1.pth`` in the work
dir (``STAGE1_CHECKPOINT``; ``CheckpointHook``'s ``max_keep_ckpts`` deletes
``epoch_{stage1_epochs}.pth`` later in the run, this file stays):
``stage1_epochs=0`` with ``load_from`` that checkpoint runs stage 2 alone.
"""
import copy
import math
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import is_model_wrapper
from mmengine.runner import EpochBasedTrainLoop
from mmpretrain.registry import LOOPS, MODELS

from lcreg.engine.hooks.epoch_seed_hook import epoch_seed, shared_seed
from lcreg.engine.hooks.latent_aug_schedule_hook import \
    check_schedule_registered
from lcreg.engine.hooks.total_batch_log_hook import auto_scale_lr_ratio
from lcreg.engine.optimizers.stage_optim_constructor import (ROLES,
                                                            parameter_roles)


@LOOPS.register_module()
class TwoStageTrainLoop(EpochBasedTrainLoop):
    """Epoch-based loop running stage 1, then stage 2 (see module doc).

    Args:
        runner, dataloader, max_epochs, val_begin, val_interval,
            dynamic_intervals: as ``EpochBasedTrainLoop``; ``max_epochs``
            counts both stages.
        stage1_epochs (int): epochs of stage 1 (0: stage 2 only).
        stage2 (dict): the classifier stage:
            ``sampler`` (dict): sampler config, default class-aware (4).
            ``loss`` (dict | None): head loss; None keeps the stage-1 loss.
            ``lr`` (float): stage-2 base learning rate. Default 0.1.
            ``lr_factor`` (float): classifier lr = lr_factor · lr.
            ``train_classifier`` (bool): train the linear classifier
            (False for LWS). Default True.
            ``train_scale`` (bool | None): train the head's ``scale``
            (learnable weight scaling). Default None: the head's
            ``learnable_scale`` (True when the head does not say). True
            with ``model.head.learnable_scale=False`` is refused.
            ``reset_classifier`` (bool): re-initialise the classifier at
            the switch (cRT), from a generator seeded by the run's seed
            (the one shared by all ranks, also with
            ``randomness.diff_rank_seed=True``) and the switch epoch: the
            same weights on every rank and on a run resumed at the
            boundary. Default False.
            ``shift_bn`` (bool): re-estimate BN statistics. Default False.
    """

    #: the checkpoint of the last stage-1 epoch, kept under this name in the
    #: work dir whatever ``max_keep_ckpts`` is
    STAGE1_CHECKPOINT = 'stage1.pth'

    STAGE2_KEYS = ('sampler', 'loss', 'lr', 'lr_factor', 'train_classifier',
                   'train_scale', 'reset_classifier', 'shift_bn')

    def __init__(self, runner, dataloader, max_epochs: int,
                 stage1_epochs: int, stage2: Optional[dict] = None,
                 val_begin: int = 1, val_interval: int = 1,
                 dynamic_intervals=None):
        stage2 = dict(stage2 or {})
        unknown = set(stage2) - set(self.STAGE2_KEYS)
        if unknown:
            raise KeyError(f'train_cfg.stage2 has unknown keys '
                           f'{sorted(unknown)}; known: {self.STAGE2_KEYS}')
        if not 0 <= stage1_epochs <= max_epochs:
            raise ValueError(
                f'train_cfg.stage1_epochs={stage1_epochs} must lie in '
                f'[0, max_epochs={max_epochs}]')
        self.dataloader_cfg = copy.deepcopy(dataloader) if isinstance(
            dataloader, dict) else None
        super().__init__(runner, dataloader, max_epochs, val_begin,
                         val_interval, dynamic_intervals)
        self.stage1_epochs = stage1_epochs
        self.stage2 = dict(
            sampler=dict(type='ClassAwareSampler', num_samples_cls=4),
            loss=None, lr=0.1, lr_factor=1.0, train_classifier=True,
            train_scale=None, reset_classifier=False, shift_bn=False)
        self.stage2.update(stage2)
        self.in_stage2 = False

    @property
    def stage(self) -> int:
        """1 or 2: the stage of the current epoch."""
        return 2 if self._epoch >= self.stage1_epochs else 1

    @property
    def model(self) -> nn.Module:
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    def run(self):
        """Check the schedulers, the stage-2 scale setting (and, when stage
        1 is still to run, the λ schedule of the latent ISDA loss) before
        the first epoch, then train."""
        self._check_schedulers()
        self._train_scale()
        if self._epoch < self.stage1_epochs:
            check_schedule_registered(self.runner)
        return super().run()

    def run_epoch(self) -> None:
        if self.stage == 2 and not self.in_stage2:
            # Fresh switch at the boundary; when resuming inside stage 2 the
            # checkpoint already holds the stage-2 weights, lr and momentum.
            self.enter_stage2(fresh=self._epoch == self.stage1_epochs)
        elif self.stage == 1:
            self._set_trainable('scale', False)  # weight scaling is stage 2
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        if self.in_stage2:
            self._set_representation_mode()
        for idx, data_batch in enumerate(self.dataloader):
            self.run_iter(idx, data_batch)
        self.runner.call_hook('after_train_epoch')
        if self._epoch + 1 == self.stage1_epochs:
            self.runner.save_checkpoint(self.runner.work_dir,
                                        self.STAGE1_CHECKPOINT)
        self._epoch += 1

    # -- the switch ---------------------------------------------------------
    def enter_stage2(self, fresh: bool) -> None:
        cfg, model = self.stage2, self.model
        self.runner.logger.info(
            f'stage 2 (classifier) from epoch {self._epoch}: representation '
            f'frozen, sampler {cfg["sampler"]["type"]}, loss '
            f'{(cfg["loss"] or {}).get("type", "unchanged")}')
        self._set_trainable('representation', False)
        self._set_trainable('classifier', cfg['train_classifier'])
        self._set_trainable('scale', self._train_scale())
        if hasattr(model, 'neck_losses'):
            model.neck_losses = False
        preprocessor = model.data_preprocessor
        if getattr(preprocessor, 'batch_augments', None) is not None:
            # mixup off; it had turned hard labels into one-hot scores
            preprocessor.batch_augments = None
            preprocessor.to_onehot = False
        dataset = self.dataloader.dataset
        if cfg['loss'] is not None:
            model.head.loss_module = self._stage2_loss(dataset)
        self.dataloader = self._build_stage2_dataloader(dataset)
        if fresh:
            if cfg['reset_classifier']:
                self._reset_classifier()
            self._reset_optimizer()
        self.in_stage2 = True

    def _train_scale(self) -> bool:
        """``stage2.train_scale``, defaulting to the head's
        ``learnable_scale``; a contradiction of the two is refused."""
        learnable = getattr(self.model.head, 'learnable_scale', True)
        train_scale = self.stage2['train_scale']
        if train_scale is None:
            return learnable
        if train_scale and not learnable:
            raise ValueError(
                'train_cfg.stage2.train_scale=True contradicts '
                'model.head.learnable_scale=False (the head keeps its scale '
                'at 1): set one of them to the other\'s value.')
        return bool(train_scale)

    def _check_schedulers(self) -> None:
        """Before the first epoch (and again when resuming): a stage-1
        scheduler must not run into stage 2, and an epoch-based scheduler
        must begin before ``max_epochs`` (else it would never run, e.g. a
        recipe's stage-2 cosine after ``stage1_epochs=0, max_epochs=10``)."""
        schedulers = self.runner.param_schedulers or []
        if isinstance(schedulers, dict):
            schedulers = [s for group in schedulers.values() for s in group]
        for i, sched in enumerate(schedulers):
            if sched.by_epoch and sched.begin >= self.max_epochs:
                raise ValueError(
                    f'param_scheduler[{i}] ({type(sched).__name__}) begins '
                    f'at epoch {sched.begin}, but training ends at '
                    f'max_epochs={self.max_epochs}: it would never run. Set '
                    f'its begin / end inside the run (stage 2 is epochs '
                    f'{self.stage1_epochs} to {self.max_epochs}) or remove '
                    'it.')
            boundary = self.stage1_epochs
            if not sched.by_epoch:
                boundary *= len(self.dataloader)
            if sched.begin < boundary < sched.end:
                raise ValueError(
                    f'param_scheduler[{i}] ({type(sched).__name__}) runs '
                    f'from {sched.begin} to {sched.end} '
                    f"{'epochs' if sched.by_epoch else 'iterations'}, across "
                    f'the stage switch at epoch {self.stage1_epochs}: set its '
                    f'end to at most train_cfg.stage1_epochs')

    def _stage2_loss(self, dataset) -> nn.Module:
        """``stage2.loss`` built for ``dataset``'s class counts, on the
        head's device: MMEngine moved the model before training began, and
        a loss buffer left on the CPU (label-aware smoothing's per-class
        ε) would meet CUDA labels."""
        loss = MODELS.build(dict(self.stage2['loss'],
                                 class_counts=self._class_counts(dataset)))
        return loss.to(next(self.model.head.parameters()).device)

    def _class_counts(self, dataset):
        counts = dataset.metainfo.get('class_counts')
        if counts is None:
            raise KeyError(
                f'{type(dataset).__name__}.metainfo has no class_counts: '
                'stage 2 needs the per-class training counts (use a '
                'long-tailed dataset of lcreg, e.g. CIFAR10LT, LongTailed, '
                'ImageNetLT)')
        return list(counts)

    def _build_stage2_dataloader(self, dataset):
        if self.dataloader_cfg is None:
            raise ValueError('TwoStageTrainLoop needs the train dataloader '
                             'as a config dict to rebuild it for stage 2')
        loader_cfg = copy.deepcopy(self.dataloader_cfg)
        loader_cfg['dataset'] = dataset
        loader_cfg['sampler'] = copy.deepcopy(self.stage2['sampler'])
        # the seed of every rank (not the rank-dependent one of
        # diff_rank_seed=True): the rank shards form one global epoch
        return self.runner.build_dataloader(loader_cfg,
                                            seed=shared_seed(self.runner))

    def _set_trainable(self, role: str, flag: bool) -> None:
        for _, param in parameter_roles(self.model)[role]:
            param.requires_grad_(flag)

    def _set_representation_mode(self) -> None:
        """Frozen representation: eval mode, or BN-only train mode."""
        model = self.model
        for name, module in model.named_children():
            if name in ('head', 'data_preprocessor'):
                continue
            module.eval()
            if self.stage2['shift_bn']:
                for m in module.modules():
                    if isinstance(m, nn.modules.batchnorm._BatchNorm):
                        m.train()

    def _reset_classifier(self) -> None:
        """cRT: draw every linear layer of the head anew, as
        ``nn.Linear.reset_parameters`` does (weight and bias
        U(−1/√fan_in, 1/√fan_in)), but from a CPU generator seeded by
        (run seed, switch epoch), not the global one: the global state
        differs between ranks (EpochSeedHook seeds per rank) and between
        an uninterrupted and a resumed run."""
        generator = torch.Generator().manual_seed(
            epoch_seed(shared_seed(self.runner), self.stage1_epochs, rank=0))
        for m in self.model.head.modules():
            if not isinstance(m, nn.Linear):
                continue
            bound = 1.0 / math.sqrt(m.in_features)
            for param in (m.weight, m.bias):
                if param is None:
                    continue
                fresh = torch.empty(param.shape).uniform_(
                    -bound, bound, generator=generator)
                with torch.no_grad():
                    param.copy_(fresh)

    def _auto_lr_scale(self) -> float:
        """The factor ``auto_scale_lr`` applies to the lrs: MMEngine's
        (``world_size · batch_size / base_batch_size``) when enabled, else
        1. ``Runner.scale_lr`` scales the stage-1 groups only; the absolute
        ``stage2.lr`` must follow it."""
        batch = self.dataloader_cfg['batch_size']
        ratio = auto_scale_lr_ratio(self.runner, batch)
        if ratio is None:
            return 1.0
        self.runner.logger.info(
            f'auto_scale_lr: stage-2 lr {self.stage2["lr"]} scaled by '
            f'{ratio} (total batch {self.runner.world_size * batch} / '
            f'base_batch_size {self.runner.auto_scale_lr["base_batch_size"]}'
            '), as the stage-1 lrs were')
        return ratio

    def _reset_optimizer(self) -> None:
        optimizer = self.runner.optim_wrapper.optimizer
        names = [g.get('name') for g in optimizer.param_groups]
        if names != list(ROLES):
            raise ValueError(
                'TwoStageTrainLoop needs optim_wrapper.constructor='
                "'StageOptimWrapperConstructor' (parameter groups "
                f'{list(ROLES)}); got groups {names}')
        lr = self.stage2['lr'] * self._auto_lr_scale()
        lrs = dict(representation=0.0, classifier=lr * self.stage2['lr_factor'],
                   scale=lr)
        for group in optimizer.param_groups:
            group['lr'] = lrs[group['name']]
            if 'initial_lr' in group:
                group['initial_lr'] = group['lr']
        optimizer.state.clear()
