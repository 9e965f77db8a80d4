# CIFAR-10-LT, imbalance factor 10.
_base_ = './cifar10-lt_bs128.py'
train_dataloader = dict(dataset=dict(imbalance_factor=10))
val_evaluator = dict(train_dataset=dict(imbalance_factor=10))
test_evaluator = dict(train_dataset=dict(imbalance_factor=10))
