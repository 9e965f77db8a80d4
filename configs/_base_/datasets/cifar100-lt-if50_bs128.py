# CIFAR-100-LT, imbalance factor 50.
_base_ = './cifar100-lt_bs128.py'
train_dataloader = dict(dataset=dict(imbalance_factor=50))
val_evaluator = dict(train_dataset=dict(imbalance_factor=50))
test_evaluator = dict(train_dataset=dict(imbalance_factor=50))
