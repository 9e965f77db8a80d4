# Balanced Softmax (Ren et al., NeurIPS 2020) on the CIFAR ResNet-32: linear
# head, cross-entropy on logits + log n_j (end-to-end, no meta sampler).
_base_ = ['./resnet32_cifar.py']
model = dict(head=dict(loss=dict(_delete_=True, type='BalancedSoftmaxLoss')))
