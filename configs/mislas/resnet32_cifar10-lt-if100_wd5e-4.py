# The MiSLAS CIFAR-10-LT IF100 recipe with weight decay 5e-4 instead of
# MiSLAS' configured 2e-4: the value MiSLAS' README "highly recommends" for
# CIFAR-LT. Only optim_wrapper.optimizer.weight_decay differs, so a
# run_table.py row of each settles which one the recipes should use.
_base_ = ['./resnet32_cifar10-lt-if100.py']
optim_wrapper = dict(optimizer=dict(weight_decay=5e-4))
