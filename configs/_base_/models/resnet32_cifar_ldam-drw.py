# LDAM-DRW (Cao et al., NeurIPS 2019) on the CIFAR ResNet-32: normalised
# linear head (logits 30·cos, no bias), LDAM loss with margins ∝ n_j^(-1/4),
# the largest 0.5; deferred re-weighting: class-balanced weights
# (beta = 0.9999) from epoch 160. The class counts come from
# train_dataloader.dataset before the run (ClassCountsHook).
_base_ = ['./resnet32_cifar.py']
# init_cfg=None: LDAM-DRW's NormedLinear keeps its own init (unit-norm rows
# of U(-1, 1)), not the Kaiming init of the plain classifier of the base.
model = dict(head=dict(
    type='NormedLinearClsHead',
    scale=30.0,
    init_cfg=None,
    loss=dict(_delete_=True, type='LDAMLoss', max_m=0.5)))
custom_hooks = [
    dict(type='DeferredReweightingHook', start_epoch=160, beta=0.9999)]
