# Runtime shared by every recipe (MMPretrain conventions).
default_scope = 'mmpretrain'
custom_imports = dict(imports=['lcreg'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # max_keep_ckpts keeps disk use bounded; 'latest' is always resumable.
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
                    save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
    # Fault tolerance (lcreg/engine/hooks): re-seed random/numpy/torch at
    # every epoch from (seed, epoch, rank), so a resumed run repeats the
    # uninterrupted one; stop at the first NaN/Inf loss term; refuse a model
    # whose number of classes differs from the dataset's.
    epoch_seed=dict(type='EpochSeedHook'),
    non_finite_loss=dict(type='NonFiniteLossHook'),
    num_classes_check=dict(type='NumClassesCheckHook'),
    # one line at start: processes x per-process batch = total batch, the
    # lr of each parameter group and whether auto_scale_lr rescaled it
    total_batch=dict(type='TotalBatchLogHook'),
    # the training class counts, given before the run to every module built
    # with class_counts=None (LDAM margins, Balanced Softmax, logit
    # adjustment, Remix); nothing is read for a model without one
    class_counts=dict(type='ClassCountsHook'),
    # post-hoc logit adjustment at evaluation (logits - tau*log prior);
    # tau=0 is off: --cfg-options default_hooks.logit_adjust.tau=1.0
    logit_adjust=dict(type='PosthocLogitAdjustHook', tau=0.0),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

# Multi-GPU runs: set sync_bn = 'torch' to turn every BatchNorm into
# torch.nn.SyncBatchNorm (statistics over the global batch instead of each
# GPU's share). It needs CUDA + NCCL; single-process and CPU (gloo) runs
# keep plain BatchNorm and say so in the log.
sync_bn = None

# Logs go to the work dir: text log + <timestamp>/vis_data/scalars.json (every
# loss term, lr and the lt/* metrics; tools/analysis/plot_curves.py reads it).
# TensorBoard switch: run with the environment variable LCREG_TENSORBOARD=1
# (MMEngine substitutes it when it reads the config; needs `pip install
# tensorboard`): the same scalars also go to TensorBoard event files in that
# vis_data folder (`tensorboard --logdir work_dirs`). 0 or unset: off.
tensorboard = {'0': False, '1': True}.get('{{$LCREG_TENSORBOARD:0}}')
if tensorboard is None:
    raise ValueError('LCREG_TENSORBOARD must be 1 (TensorBoard on) or 0 '
                     '(off); unset it to keep TensorBoard off.')
vis_backends = [dict(type='LocalVisBackend')]
if tensorboard:
    vis_backends.append(dict(type='TensorboardVisBackend'))
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
