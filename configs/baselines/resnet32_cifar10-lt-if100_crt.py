# Decoupling baseline cRT (classifier re-training; Kang et al., ICLR 2020),
# ResNet-32, CIFAR-10-LT IF100, both stages in one job:
# stage 1 (epochs 0-199): the plain cross-entropy baseline
#   (resnet32_cifar10-lt-if100_ce.py: instance-balanced sampling, no mixup,
#   SGD momentum 0.9, lr 0.1, 5-epoch warm-up, x0.1 at 160 and 180);
# stage 2 (epochs 200-209): representation frozen, the linear classifier
#   re-initialised and re-trained with class-aware sampling (4 per class)
#   and plain cross-entropy, lr 0.1 cosine; no weight scaling (the head's
#   scale stays 1). BN layers in train mode (shift_bn=True): as in the
#   decoupling code (run_networks.py calls train() on every network and
#   freezes through requires_grad only), their running statistics are
#   re-estimated on the class-balanced stream; BN affine parameters and
#   all conv weights stay fixed.
# tau-normalisation needs no training: tools/analysis/tau_norm_sweep.py on
# the CE checkpoint (this run keeps its stage-1 one as <work dir>/stage1.pth)
# or on this one, then the tools/test.py command the sweep prints.
_base_ = [
    '../_base_/models/resnet32_cifar.py',
    '../_base_/datasets/cifar10-lt_bs128.py',
    '../_base_/schedules/cifar_lt_mislas_200e-10e.py',
    '../_base_/default_runtime.py',
]
# ScaledLinearClsHead = LinearClsHead + a per-class scale (used by LWS) +
# inference tau-normalisation; CE loss as in the CE baseline.
model = dict(head=dict(type='ScaledLinearClsHead'))
train_cfg = dict(stage2=dict(
    lr=0.1,
    lr_factor=1.0,
    loss=None,  # keep the stage-1 cross-entropy
    reset_classifier=True,
    train_classifier=True,
    train_scale=False,
    shift_bn=True))  # decoupling: train() on the frozen network
