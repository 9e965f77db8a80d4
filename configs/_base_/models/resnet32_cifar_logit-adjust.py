# Logit-adjusted loss (Menon et al., ICLR 2021) on the CIFAR ResNet-32:
# linear head, cross-entropy on logits + tau * log(prior), tau = 1. The
# post-hoc form needs no recipe: default_hooks.logit_adjust.tau on any
# checkpoint (tools/analysis/tau_norm_sweep.py --method logit-adjust).
_base_ = ['./resnet32_cifar.py']
model = dict(head=dict(
    loss=dict(_delete_=True, type='LogitAdjustedLoss', tau=1.0)))
